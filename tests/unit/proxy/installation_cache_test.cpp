// installation_cache (keys with a TTL, installations with the generation rule)
// and stream_slots (per-installation caps). Expiry is tested with a TTL of
// 0 ms (expired as soon as stored) and hits with a TTL of an hour: no test
// depends on how long anything takes.
#include "proxy/installation_cache.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using mcpgate::proxy::cached_installation;
using mcpgate::proxy::installation_cache;
using mcpgate::proxy::stream_slots;
using namespace std::chrono_literals;

namespace {

mcpgate::registry::api_key key_for(const std::string& id, std::int64_t user) {
  mcpgate::registry::api_key k;
  k.id = id;
  k.user_id = user;
  k.secret_hash = "hash-" + id;
  k.scopes = {"project:read"};
  k.projects = {1, 2};
  return k;
}

std::shared_ptr<const cached_installation> cached_entry(const std::string& id, const std::string& credential,
                                                        const std::string& url = "http://127.0.0.1:9/mcp") {
  auto entry = std::make_shared<cached_installation>();
  entry->inst.id = id;
  entry->inst.environment_id = 1;
  entry->inst.user_id = 7;
  entry->inst.url = url;
  entry->inst.auth_type = "api_key";
  entry->credential = credential;
  return entry;
}

mcpgate::auth::key_digest digest(const std::string& secret) { return mcpgate::auth::digest_api_key(secret); }

}  // namespace

BOOST_AUTO_TEST_SUITE(registry_cache_keys)

BOOST_AUTO_TEST_CASE(unknown_key_is_a_miss) {
  const installation_cache cache(1h);
  BOOST_TEST(cache.find_key(digest("nope")).key == nullptr);
}

BOOST_AUTO_TEST_CASE(stored_key_is_found_within_its_ttl) {
  installation_cache cache(1h);
  cache.put_key(digest("h1"), key_for("k1", 7));
  const auto hit = cache.find_key(digest("h1"));
  BOOST_TEST(!hit.stale);
  const auto& found = hit.key;
  BOOST_TEST_REQUIRE(found != nullptr);
  BOOST_TEST(found->id == "k1");
  BOOST_TEST(found->user_id == 7);
  BOOST_TEST(found->scopes == std::vector<std::string>{"project:read"});
  BOOST_TEST((found->projects == std::vector<std::int64_t>{1, 2}));
  BOOST_TEST(cache.find_key(digest("h2")).key == nullptr);
}

BOOST_AUTO_TEST_CASE(key_with_zero_ttl_and_no_grace_is_expired_at_once) {
  installation_cache cache(0ms, 0ms);
  cache.put_key(digest("h1"), key_for("k1", 7));
  BOOST_TEST(cache.find_key(digest("h1")).key == nullptr);
}

BOOST_AUTO_TEST_CASE(an_expired_key_is_served_stale_while_one_caller_reads_it_again) {
  installation_cache cache(0ms, 1h);
  cache.put_key(digest("h1"), key_for("k1", 7));
  auto hit = cache.find_key(digest("h1"));
  BOOST_TEST_REQUIRE(hit.key != nullptr);
  BOOST_TEST(hit.stale);
  BOOST_TEST(cache.claim_refresh(digest("h1")));   // the one that reads
  BOOST_TEST(!cache.claim_refresh(digest("h1")));  // everyone else goes on
  cache.refresh_failed(digest("h1"));              // the store could not say
  BOOST_TEST(cache.claim_refresh(digest("h1")));   // the next request tries again
  cache.forget_key(digest("h1"));                  // revoked
  BOOST_TEST(cache.find_key(digest("h1")).key == nullptr);
  BOOST_TEST(!cache.claim_refresh(digest("h1")));
}

BOOST_AUTO_TEST_CASE(put_replaces_the_key_under_the_same_hash) {
  installation_cache cache(1h);
  cache.put_key(digest("h1"), key_for("k1", 7));
  cache.put_key(digest("h1"), key_for("k2", 8));
  const auto found = cache.find_key(digest("h1")).key;
  BOOST_TEST_REQUIRE(found != nullptr);
  BOOST_TEST(found->id == "k2");
  BOOST_TEST(found->user_id == 8);
}

BOOST_AUTO_TEST_CASE(many_live_keys_all_stay_found) {
  // Past the size where expired entries are swept: live ones must survive it.
  installation_cache cache(1h);
  for (int i = 0; i < 1100; ++i) cache.put_key(digest("h" + std::to_string(i)), key_for("k" + std::to_string(i), i));
  for (int i = 0; i < 1100; ++i) {
    const auto found = cache.find_key(digest("h" + std::to_string(i))).key;
    BOOST_TEST_REQUIRE(found != nullptr, "h" << i);
    BOOST_TEST(found->id == "k" + std::to_string(i));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_cache_installations)

BOOST_AUTO_TEST_CASE(put_then_find_returns_the_entry_with_its_credential) {
  installation_cache cache;
  BOOST_TEST(cache.find_installation("i1") == nullptr);
  cache.put_installation(cached_entry("i1", "secret-1"), cache.generation());
  const auto hit = cache.find_installation("i1");
  BOOST_TEST_REQUIRE(hit != nullptr);
  BOOST_TEST(hit->inst.id == "i1");
  BOOST_TEST(hit->credential == "secret-1");
  BOOST_TEST(cache.find_installation("i2") == nullptr);
}

BOOST_AUTO_TEST_CASE(forget_removes_the_entry) {
  installation_cache cache;
  cache.put_installation(cached_entry("i1", "secret-1"), cache.generation());
  cache.put_installation(cached_entry("i2", "secret-2"), cache.generation());
  cache.forget_installation("i1");
  BOOST_TEST(cache.find_installation("i1") == nullptr);
  const auto other = cache.find_installation("i2");
  BOOST_TEST_REQUIRE(other != nullptr);
  BOOST_TEST(other->credential == "secret-2");
  cache.forget_installation("never-cached");  // harmless
  BOOST_TEST(cache.find_installation("i2") != nullptr);
}

BOOST_AUTO_TEST_CASE(read_that_raced_with_a_forget_is_not_cached) {
  installation_cache cache;
  // A reader takes the generation, reads the store (old row)...
  const auto before = cache.generation();
  // ...meanwhile a REST write changes the installation and forgets it...
  cache.forget_installation("i1");
  // ...then the reader stores what it read: dropped.
  cache.put_installation(cached_entry("i1", "stale"), before);
  BOOST_TEST(cache.find_installation("i1") == nullptr);
  // The next reader, with a fresh generation, caches the new row.
  cache.put_installation(cached_entry("i1", "fresh"), cache.generation());
  const auto hit = cache.find_installation("i1");
  BOOST_TEST_REQUIRE(hit != nullptr);
  BOOST_TEST(hit->credential == "fresh");
}

BOOST_AUTO_TEST_CASE(generation_advances_on_every_forget) {
  installation_cache cache;
  const auto g0 = cache.generation();
  cache.forget_installation("a");
  const auto g1 = cache.generation();
  cache.forget_installation("b");
  const auto g2 = cache.generation();
  BOOST_TEST(g1 != g0);
  BOOST_TEST(g2 != g1);
  // A put with an old generation is dropped even when the forget was for another id.
  cache.put_installation(cached_entry("c", "x"), g1);
  BOOST_TEST(cache.find_installation("c") == nullptr);
}

BOOST_AUTO_TEST_CASE(put_replaces_an_entry_and_old_holders_keep_theirs) {
  installation_cache cache;
  cache.put_installation(cached_entry("i1", "old"), cache.generation());
  const auto held = cache.find_installation("i1");
  cache.put_installation(cached_entry("i1", "new"), cache.generation());
  const auto now = cache.find_installation("i1");
  BOOST_TEST_REQUIRE(held != nullptr);
  BOOST_TEST_REQUIRE(now != nullptr);
  BOOST_TEST(held->credential == "old");
  BOOST_TEST(now->credential == "new");
  cache.forget_installation("i1");
  BOOST_TEST(held->credential == "old");  // still alive through the shared_ptr
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stream_slots_cap)

BOOST_AUTO_TEST_CASE(acquire_up_to_the_cap_then_refuse) {
  auto slots = std::make_shared<stream_slots>();
  BOOST_TEST(slots->open("i1") == 0u);
  auto a = slots->acquire("i1", 2);
  auto b = slots->acquire("i1", 2);
  BOOST_TEST_REQUIRE(a.has_value());
  BOOST_TEST_REQUIRE(b.has_value());
  BOOST_TEST(slots->open("i1") == 2u);
  BOOST_TEST(!slots->acquire("i1", 2).has_value());
  BOOST_TEST(slots->open("i1") == 2u);  // a refusal takes nothing
}

BOOST_AUTO_TEST_CASE(destroying_a_slot_gives_it_back) {
  auto slots = std::make_shared<stream_slots>();
  auto a = slots->acquire("i1", 1);
  BOOST_TEST_REQUIRE(a.has_value());
  BOOST_TEST(!slots->acquire("i1", 1).has_value());
  a.reset();
  BOOST_TEST(slots->open("i1") == 0u);
  auto again = slots->acquire("i1", 1);
  BOOST_TEST(again.has_value());
  BOOST_TEST(slots->open("i1") == 1u);
}

BOOST_AUTO_TEST_CASE(installations_count_independently) {
  auto slots = std::make_shared<stream_slots>();
  auto a = slots->acquire("i1", 1);
  BOOST_TEST_REQUIRE(a.has_value());
  BOOST_TEST(!slots->acquire("i1", 1).has_value());
  auto b = slots->acquire("i2", 1);
  BOOST_TEST(b.has_value());
  BOOST_TEST(slots->open("i1") == 1u);
  BOOST_TEST(slots->open("i2") == 1u);
  b.reset();
  BOOST_TEST(slots->open("i1") == 1u);
  BOOST_TEST(slots->open("i2") == 0u);
}

BOOST_AUTO_TEST_CASE(zero_cap_refuses_everything) {
  auto slots = std::make_shared<stream_slots>();
  BOOST_TEST(!slots->acquire("i1", 0).has_value());
  BOOST_TEST(slots->open("i1") == 0u);
}

BOOST_AUTO_TEST_CASE(slot_keeps_its_owner_alive) {
  auto slots = std::make_shared<stream_slots>();
  auto a = slots->acquire("i1", 1);
  const std::weak_ptr<stream_slots> watch = slots;
  slots.reset();
  BOOST_TEST(!watch.expired());  // the open stream still holds the counter
  a.reset();                     // releases into a live owner, then lets it go
  BOOST_TEST(watch.expired());
}

BOOST_AUTO_TEST_SUITE_END()
