#include "proxy/jsonrpc_inspector.hpp"

#include "common/mcp_names.hpp"
#include "proxy/json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string_view.hpp>

#include <cstdint>
#include <limits>
#include <utility>

namespace mcpgate::proxy {

namespace {

class inspect_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mcpgate.jsonrpc_inspector"; }

  std::string message(int ev) const override {
    switch (static_cast<inspect_error>(ev)) {
      case inspect_error::ok: return "ok";
      case inspect_error::invalid_json: return "body is not valid JSON";
      case inspect_error::not_object_or_array: return "body is not a JSON object or array";
      case inspect_error::empty_batch: return "batch is empty";
      case inspect_error::batch_element_not_object: return "batch element is not an object";
      case inspect_error::too_deep: return "JSON nesting too deep";
      case inspect_error::duplicate_key: return "duplicate key in JSON-RPC message";
    }
    return "unknown inspector error";
  }
};

// The members of a message the inspector reads; everything else is `other`.
enum class member { other, jsonrpc, id, method, params, result, error };

// The members of "params" the inspector reads.
enum class param { other, name, uri, task_id, meta };

// Keys longer than this cannot be one we read, so they are not accumulated
// (in params._meta: longer than meta_protocol_version).
constexpr std::size_t max_interesting_key = 8;
constexpr std::size_t max_interesting_meta_key = meta_protocol_version.size();

// basic_parser handler. Depth counts open containers: the message object's
// members live at msg_depth_ (1 for a single message, 2 inside a batch), the
// params object's members at msg_depth_ + 1, those of params._meta at
// msg_depth_ + 2. Only keys at those levels and scalars that are values of
// interesting keys there are looked at.
class handler {
 public:
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

  inspection result_;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code& ec) {
    if (depth_ == 0 || (result_.is_batch && depth_ == 1)) {
      begin_message();
    } else if (depth_ == msg_depth_) {
      if (!on_member_value(ec)) return false;
      if (member_ == member::params) params_open_ = true;
    } else if (in_params_members()) {
      if (param_ == param::meta) meta_open_ = true;
      if (!on_param_value(ec)) return false;
    } else if (in_meta_members()) {
      if (!on_param_value(ec)) return false;
    }
    ++depth_;
    return true;
  }

  bool on_object_end(std::size_t, boost::system::error_code&) { return on_container_end(); }

  bool on_array_begin(boost::system::error_code& ec) {
    if (depth_ == 0) {
      result_.is_batch = true;
      msg_depth_ = 2;
    } else if (result_.is_batch && depth_ == 1) {
      return fail(ec, inspect_error::batch_element_not_object);
    } else if (!on_member_value(ec) || !on_param_value(ec)) {
      return false;
    }
    ++depth_;
    return true;
  }

  bool on_array_end(std::size_t n, boost::system::error_code& ec) {
    if (depth_ == 1 && result_.is_batch && n == 0) return fail(ec, inspect_error::empty_batch);
    return on_container_end();
  }

  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == msg_depth_ || in_params_members()) append_key(s, max_interesting_key);
    if (in_meta_members()) append_key(s, max_interesting_meta_key);
    return true;
  }

  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (depth_ == msg_depth_) {
      append_key(s, max_interesting_key);
      member_ = classify(key_);
      key_.clear();
      key_too_long_ = false;
      return check_duplicate_member(ec);
    }
    if (in_params_members()) {
      append_key(s, max_interesting_key);
      param_ = key_too_long_ ? param::other : classify_param(key_);
      key_.clear();
      key_too_long_ = false;
      return check_duplicate_param(ec);
    }
    if (in_meta_members()) {
      append_key(s, max_interesting_meta_key);
      meta_key_is_version_ = !key_too_long_ && key_ == meta_protocol_version;
      key_.clear();
      key_too_long_ = false;
      if (meta_key_is_version_) {
        if (meta_version_seen_) return fail(ec, inspect_error::duplicate_key);
        meta_version_seen_ = true;
      }
    }
    return true;
  }

  bool on_string_part(boost::json::string_view s, std::size_t n, boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    if (std::string* target = string_target(); target != nullptr) {
      if (n == s.size()) target->clear();  // first part
      target->append(s.data(), s.size());
    }
    return true;
  }

  bool on_string(boost::json::string_view s, std::size_t n, boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    std::string* target = string_target();
    if (target != nullptr) {
      if (n == s.size()) target->clear();  // the whole string arrived at once
      target->append(s.data(), s.size());
    }
    if (depth_ == msg_depth_) {
      switch (member_) {
        case member::jsonrpc: msg_.has_jsonrpc_2_0 = (scratch_ == jsonrpc_version); break;
        case member::id: msg_.id = id_kind::string; break;
        case member::method: msg_.method = std::move(scratch_); break;
        default: break;
      }
      scratch_.clear();
    } else if (std::optional<std::string>* value = param_value(); value != nullptr) {
      *value = std::move(scratch_);
      scratch_.clear();
    }
    return true;
  }

  bool on_number_part(boost::json::string_view s, boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    if (is_id_value()) {
      if (!number_open_) msg_.id_text.clear();
      msg_.id_text.append(s.data(), s.size());
    }
    number_open_ = true;
    return true;
  }

  bool on_int64(std::int64_t, boost::json::string_view s, boost::system::error_code& ec) { return on_number(s, ec); }
  bool on_uint64(std::uint64_t, boost::json::string_view s, boost::system::error_code& ec) { return on_number(s, ec); }
  bool on_double(double, boost::json::string_view s, boost::system::error_code& ec) { return on_number(s, ec); }

  bool on_bool(bool, boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    return on_other_value(ec);
  }

  bool on_null(boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    if (is_id_value()) {
      msg_.id = id_kind::null;
      msg_.id_text.clear();
    }
    return on_other_value(ec);
  }

  // Comments are disabled in the parse options; never called.
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

  inspect_error reason() const { return reason_; }

 private:
  static param classify_param(const std::string& key) {
    if (key == "name") return param::name;
    if (key == "uri") return param::uri;
    if (key == "taskId") return param::task_id;
    if (key == "_meta") return param::meta;
    return param::other;
  }

  static member classify(const std::string& key) {
    if (key == "jsonrpc") return member::jsonrpc;
    if (key == "id") return member::id;
    if (key == "method") return member::method;
    if (key == "params") return member::params;
    if (key == "result") return member::result;
    if (key == "error") return member::error;
    return member::other;
  }

  bool fail(boost::system::error_code& ec, inspect_error why) {
    reason_ = why;
    ec = make_error_code(why);
    return false;
  }

  bool in_params_members() const { return params_open_ && depth_ == msg_depth_ + 1; }
  bool in_meta_members() const { return meta_open_ && depth_ == msg_depth_ + 2; }

  // Where the string value being read goes, if it is one of the params
  // members (or the _meta version) the inspector keeps.
  std::optional<std::string>* param_value() {
    if (in_params_members()) {
      switch (param_) {
        case param::name: return &name_;
        case param::uri: return &uri_;
        case param::task_id: return &task_id_;
        default: return nullptr;
      }
    }
    if (in_meta_members() && meta_key_is_version_) return &meta_version_;
    return nullptr;
  }
  bool is_id_value() const { return depth_ == msg_depth_ && member_ == member::id; }

  void append_key(boost::json::string_view s, std::size_t longest) {
    if (key_too_long_) return;
    if (key_.size() + s.size() > longest) {
      key_too_long_ = true;
      key_.clear();
      return;
    }
    key_.append(s.data(), s.size());
  }

  void begin_message() {
    msg_ = message_info{};
    seen_ = 0;
    member_ = member::other;
    params_open_ = false;
    meta_open_ = false;
    param_ = param::other;
    params_seen_ = 0;
    meta_key_is_version_ = false;
    meta_version_seen_ = false;
    name_.reset();
    uri_.reset();
    task_id_.reset();
    meta_version_.reset();
    has_result_or_error_ = false;
    method_not_string_ = false;
  }

  void end_message() {
    const bool has_id = msg_.id != id_kind::absent;
    if (msg_.method) {
      if (method_not_string_ || has_result_or_error_ || msg_.id == id_kind::invalid) {
        msg_.kind = message_kind::invalid;
      } else {
        msg_.kind = has_id ? message_kind::request : message_kind::notification;
      }
      msg_.protocol_version = std::move(meta_version_);
      const std::string_view method = *msg_.method;
      if (method == method_tools_call) {
        msg_.tool_name = name_;
        msg_.mirrored_param = std::move(name_);
      } else if (method == method_prompts_get) {
        msg_.mirrored_param = std::move(name_);
      } else if (method == method_resources_read) {
        msg_.mirrored_param = std::move(uri_);
      } else if (method == method_tasks_get || method == method_tasks_update || method == method_tasks_cancel) {
        msg_.mirrored_param = std::move(task_id_);
      }
    } else if (!method_not_string_ && has_result_or_error_ && has_id && msg_.id != id_kind::invalid) {
      msg_.kind = message_kind::response;
    } else {
      msg_.kind = message_kind::invalid;
    }
    result_.messages.push_back(std::move(msg_));
  }

  bool on_container_end() {
    --depth_;
    if (depth_ == msg_depth_) {
      params_open_ = false;  // whichever member's value just closed, params is done
      param_ = param::other;
    } else if (depth_ == msg_depth_ + 1) {
      meta_open_ = false;  // a params member's value closed; _meta is done if it was that
      meta_key_is_version_ = false;
    } else if (depth_ + 1 == msg_depth_) {
      end_message();
    }
    return true;
  }

  // Scalars are not allowed at the top, nor as batch elements.
  bool on_scalar(boost::system::error_code& ec) {
    if (depth_ == 0) return fail(ec, inspect_error::not_object_or_array);
    if (result_.is_batch && depth_ == 1) return fail(ec, inspect_error::batch_element_not_object);
    return true;
  }

  // Where the current string's characters go, if anywhere.
  std::string* string_target() {
    if (depth_ == msg_depth_) {
      switch (member_) {
        case member::id: return &msg_.id_text;
        case member::jsonrpc:
        case member::method: return &scratch_;
        default: return nullptr;
      }
    }
    if (param_value() != nullptr) return &scratch_;
    return nullptr;
  }

  bool check_duplicate_member(boost::system::error_code& ec) {
    if (member_ == member::other) return true;
    const unsigned bit = 1u << static_cast<unsigned>(member_);
    if ((seen_ & bit) != 0) return fail(ec, inspect_error::duplicate_key);
    seen_ |= bit;
    if (member_ == member::result || member_ == member::error) has_result_or_error_ = true;
    return true;
  }

  // A non-string (container or scalar) value started at message level.
  bool on_member_value(boost::system::error_code& ec) {
    if (depth_ != msg_depth_) return true;
    return on_other_value(ec);
  }

  // A params member read twice (parsers disagree on which copy wins).
  bool check_duplicate_param(boost::system::error_code& ec) {
    if (param_ == param::other) return true;
    const unsigned bit = 1u << static_cast<unsigned>(param_);
    if ((params_seen_ & bit) != 0) return fail(ec, inspect_error::duplicate_key);
    params_seen_ |= bit;
    return true;
  }

  // A non-string value for a kept params member (or the _meta version): it
  // is not usable.
  bool on_param_value(boost::system::error_code&) {
    if (std::optional<std::string>* value = param_value(); value != nullptr) value->reset();
    return true;
  }

  // Bookkeeping for any non-string value (container or scalar).
  bool on_other_value(boost::system::error_code& ec) {
    if (depth_ == msg_depth_) {
      if (member_ == member::method) method_not_string_ = true;
      if (member_ == member::jsonrpc) msg_.has_jsonrpc_2_0 = false;
      if (member_ == member::id && msg_.id == id_kind::absent) {
        // containers and booleans; null and numbers were recorded already
        msg_.id = id_kind::invalid;
        msg_.id_text.clear();
      }
      return true;
    }
    return on_param_value(ec);
  }

  bool on_number(boost::json::string_view s, boost::system::error_code& ec) {
    if (!on_scalar(ec)) return false;
    if (is_id_value()) {
      if (!number_open_) msg_.id_text.clear();
      msg_.id_text.append(s.data(), s.size());
      msg_.id = id_kind::number;
    }
    number_open_ = false;
    return on_other_value(ec);
  }

  // Parse position.
  std::size_t depth_ = 0;
  std::size_t msg_depth_ = 1;
  member member_ = member::other;  // key of the message member being read
  bool params_open_ = false;       // the message's "params" object is open
  bool meta_open_ = false;         // its "_meta" object is open
  param param_ = param::other;     // key of the params member being read
  bool meta_key_is_version_ = false;
  bool number_open_ = false;  // a number arrived in parts and has not ended
  std::string key_;           // the key being read, if short enough to matter
  bool key_too_long_ = false;
  std::string scratch_;  // the string value being read (method, jsonrpc, name)

  // The message being read.
  message_info msg_;
  unsigned seen_ = 0;         // bit per member: duplicate detection
  unsigned params_seen_ = 0;  // the same for params members
  bool meta_version_seen_ = false;
  std::optional<std::string> name_;  // params.name, params.uri, params.taskId as strings
  std::optional<std::string> uri_;
  std::optional<std::string> task_id_;
  std::optional<std::string> meta_version_;  // params._meta's protocol version
  bool has_result_or_error_ = false;
  bool method_not_string_ = false;

  inspect_error reason_ = inspect_error::ok;
};

}  // namespace

const boost::system::error_category& inspect_category() noexcept {
  static const inspect_category_impl category;
  return category;
}

namespace {

result<inspection> inspect_once(std::string_view body, bool allow_invalid_utf8) {
  boost::json::parse_options options;
  options.max_depth = inspector_max_depth;
  options.allow_invalid_utf8 = allow_invalid_utf8;
  boost::json::basic_parser<handler> parser(options);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (ec) {
    if (parser.handler().reason() != inspect_error::ok) return make_error_code(parser.handler().reason());
    if (ec == boost::json::error::too_deep) return make_error_code(inspect_error::too_deep);
    return make_error_code(inspect_error::invalid_json);
  }
  if (used != body.size()) return make_error_code(inspect_error::invalid_json);
  return std::move(parser.handler().result_);
}

}  // namespace

result<inspection> inspect_jsonrpc(std::string_view body) {
  auto strict = inspect_once(body, false);
  if (strict || strict.error() != inspect_error::invalid_json || !has_lone_surrogate(body)) return strict;
  // Lone surrogate escapes (see json_text.hpp): everything else must be
  // strictly valid, and the strings are read with the surrogates as WTF-8.
  if (auto checked = inspect_once(lone_surrogates_replaced(body), false); !checked) return checked;
  return inspect_once(lone_surrogates_as_wtf8(body), true);
}

}  // namespace mcpgate::proxy
