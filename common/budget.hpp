// A shared allowance with a limit: bytes held in memory, or requests in
// flight. Work takes a share before it grows and gives it back when done;
// what does not fit is refused at once (shed), so memory stays bounded
// whatever clients send.
//
// Thread-safety: any thread. take/give are one atomic operation each; the
// limit may be changed at any time (a reload): shares already taken stay,
// new ones see the new limit.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

namespace mcpgate {

// What one request (its body, or its non-streamed answer) may hold without
// taking from the shared budget: the usual JSON-RPC message never touches
// it, so a client that holds the budget with large or slow bodies cannot
// starve everyone else's small requests. In all, bounded by the connection
// cap times this.
inline constexpr std::size_t unbudgeted_bytes = 64 * 1024;

// The part of `n` bytes held by one request that the budget must cover.
constexpr std::size_t budgeted(std::size_t n) { return n > unbudgeted_bytes ? n - unbudgeted_bytes : 0; }

class budget {
 public:
  explicit budget(std::size_t limit) : limit_(limit) {}
  budget(const budget&) = delete;
  budget& operator=(const budget&) = delete;

  // Takes `n` if the total stays within the limit.
  bool try_take(std::size_t n) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    const std::size_t limit = limit_.load(std::memory_order_relaxed);
    do {
      if (n > limit || used > limit - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }

  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }
  void set_limit(std::size_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  // True when nothing more fits (new work should be shed before it starts).
  bool exhausted() const { return used() >= limit(); }

  // A share of a budget that grows as the work does and is given back when
  // it goes. Movable; an empty share (default) holds nothing.
  class share {
   public:
    share() = default;
    explicit share(budget& owner) : owner_(&owner) {}
    share(share&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), held_(std::exchange(other.held_, 0)) {}
    share& operator=(share&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        held_ = std::exchange(other.held_, 0);
      }
      return *this;
    }
    share(const share&) = delete;
    share& operator=(const share&) = delete;
    ~share() { release(); }

    // Holds at least `n` in all; false (holding what it held) when the
    // budget cannot give the difference.
    bool grow_to(std::size_t n) {
      if (owner_ == nullptr || n <= held_) return true;
      if (!owner_->try_take(n - held_)) return false;
      held_ = n;
      return true;
    }
    std::size_t held() const { return held_; }
    void release() {
      if (owner_ != nullptr && held_ > 0) owner_->give_back(held_);
      held_ = 0;
    }

   private:
    budget* owner_ = nullptr;
    std::size_t held_ = 0;
  };

 private:
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> used_{0};
};

}  // namespace mcpgate
