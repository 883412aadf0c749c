// The hand-off: store work runs on the store thread, the coroutine resumes on
// its own executor, and exceptions cross back.
#include "registry/store_executor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using mcpgate::registry::store_executor;

namespace {

struct temp_store {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("mcpgate-store-executor-" + std::to_string(::getpid()));
  temp_store() { std::filesystem::create_directories(dir); }
  ~temp_store() { std::filesystem::remove_all(dir); }
  std::unique_ptr<mcpgate::registry::store> open() {
    auto s = mcpgate::registry::open_sqlite_store((dir / "t.db").string());
    BOOST_TEST_REQUIRE(s.has_value());
    return std::move(*s);
  }
};

asio::awaitable<void> exercise(store_executor& db, std::thread::id loop_thread, std::thread::id& store_thread,
                               bool& resumed_on_loop, bool& exception_crossed, int& version) {
  const auto where = [&store_thread](mcpgate::registry::store& s) {
    store_thread = std::this_thread::get_id();
    return s.schema_version();
  };
  auto v = co_await db.run(where);
  version = v ? *v : -1;
  resumed_on_loop = std::this_thread::get_id() == loop_thread;
  const auto fail = [](mcpgate::registry::store&) -> int { throw std::runtime_error("boom"); };
  try {
    (void)co_await db.run(fail);
  } catch (const std::runtime_error&) {
    exception_crossed = true;
  }
}

// What the store thread's queue holds when a run() reaches it.
asio::awaitable<void> read_after(store_executor& db, const std::vector<int>& order, std::vector<int>& seen) {
  const auto read = [&order](mcpgate::registry::store&) { return order; };
  seen = co_await db.run(read);
}

}  // namespace

BOOST_AUTO_TEST_CASE(detached_work_runs_on_the_store_thread_in_order_and_before_later_work) {
  temp_store tmp;
  store_executor db(tmp.open());
  std::vector<int> order;  // touched only on the store thread until read_after has it
  std::thread::id store_thread;
  db.run_detached([&order, &store_thread](mcpgate::registry::store&) {
    store_thread = std::this_thread::get_id();
    order.push_back(1);
  });
  // A failure is dropped and does not stop the work queued after it.
  db.run_detached([](mcpgate::registry::store&) -> int { throw std::runtime_error("dropped"); });
  db.run_detached([&order](mcpgate::registry::store& s) { order.push_back(s.schema_version() ? 2 : -2); });
  asio::io_context ioc;
  std::vector<int> seen;
  asio::co_spawn(ioc, read_after(db, order, seen), [](std::exception_ptr e) { BOOST_TEST(!e); });
  ioc.run();
  db.stop();
  BOOST_TEST(seen == (std::vector<int>{1, 2}), boost::test_tools::per_element());
  BOOST_TEST((store_thread != std::thread::id()));
  BOOST_TEST((store_thread != std::this_thread::get_id()));
}

BOOST_AUTO_TEST_CASE(store_work_runs_off_the_event_loop_and_resumes_on_it) {
  temp_store tmp;
  store_executor db(tmp.open());
  asio::io_context ioc;
  std::thread::id store_thread;
  bool resumed_on_loop = false, exception_crossed = false;
  int version = 0;
  asio::co_spawn(asio::make_strand(ioc),
                 exercise(db, std::this_thread::get_id(), store_thread, resumed_on_loop, exception_crossed, version),
                 [](std::exception_ptr e) { BOOST_TEST(!e); });
  ioc.run();
  db.stop();  // before ioc goes: the store thread holds copies of its executors
  BOOST_TEST(version >= 1);
  BOOST_TEST((store_thread != std::thread::id()));
  BOOST_TEST((store_thread != std::this_thread::get_id()));
  BOOST_TEST(resumed_on_loop);
  BOOST_TEST(exception_crossed);
}
