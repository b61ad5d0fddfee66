/* Reference gossip objects (PROTOCOL.md 13.4, D14): recognised in both references'
 * spacings (the GOSSIP_DATA plaintexts of frames.json), kept out of application
 * delivery, still flooded on; everything else that merely looks like them is data. */
#include "disc_util.h"
#include "gossip.h"

static void test_vectors_both_spacings(void **state) {
  (void)state;
  json_t *v = tu_vectors("frames.json");
  size_t i;
  json_t *f, *frame = NULL;
  json_array_foreach(json_object_get(v, "frames"), i, f) {
    if (strcmp(tu_str(f, "name"), "GOSSIP_DATA") == 0) frame = f;
  }
  assert_non_null(frame);
  const char *keys[] = {"python_datagrams", "js_datagrams"};
  int spaced = 0, compact = 0;
  for (int k = 0; k < 2; k++) {
    json_t *d;
    json_array_foreach(json_object_get(frame, keys[k]), i, d) {
      size_t n;
      uint8_t *pt = tu_unhex(tu_str(json_object_get(d, "fields"), "plaintext_hex"), &n);
      assert_true(n > 4);
      gossip_info gi;
      /* the sequence prefix is what hid it from the references; without it, it is ours */
      assert_int_equal(gossip_check(pt, n, &gi), 0);
      assert_int_equal(gossip_check(pt + 4, n - 4, &gi), 1);
      assert_int_equal(gi.addr.family, 4);
      spaced += memmem(pt + 4, n - 4, "\": true", 7) != NULL;
      compact += memmem(pt + 4, n - 4, "\":true", 6) != NULL;
      free(pt);
    }
  }
  assert_true(spaced >= 1 && compact >= 1);
  json_decref(v);
}

static void test_lookalikes(void **state) {
  (void)state;
  const char *yes[] = {
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"198.51.100.3\", \"port\": 40003}",
      "{\"_gossip\":true,\"id\":\"7aa1a01bb188b600\",\"ip\":\"198.51.100.3\",\"port\":40003}",
      "{\"port\":1,\"ip\":\"x\",\"id\":\"7aa1a01bb188b600\",\"_gossip\":true}",
  };
  const char *no[] = {
      "{\"_gossip\": false, \"id\": \"7aa1a01bb188b600\", \"ip\": \"198.51.100.3\", \"port\": 1}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"198.51.100.3\", \"port\": 1, \"x\": 1}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b6\", \"ip\": \"198.51.100.3\", \"port\": 1}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b6zz\", \"ip\": \"198.51.100.3\", \"port\": 1}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": 5, \"port\": 1}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"1.2.3.4\", \"port\": \"1\"}",
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"1.2.3.4\"",
      "{\"_gossip\": true, \"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"1\"}",
      " {\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"1.2.3.4\", \"port\": 1}",
      "[{\"_gossip\": true}]",
      "hello _gossip",
      "{}",
  };
  gossip_info gi;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    assert_int_equal(gossip_check((const uint8_t *)yes[i], strlen(yes[i]), &gi), 1);
  assert_int_equal(gi.addr.family, 0); /* "x" is no address: recognised, not usable */
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    assert_int_equal(gossip_check((const uint8_t *)no[i], strlen(no[i]), &gi), 0);
  assert_int_equal(gossip_check(NULL, 0, &gi), 0);
}

/* B -> A -> C: A keeps the gossip from its application and floods it to C. */
static void test_delivery_path(void **state) {
  (void)state;
  du_node a, b, c;
  du_init(&a, NULL, "a1", "10.0.0.1:1001", 0);
  du_init(&b, NULL, "b2", "10.0.0.2:1002", 0);
  du_init(&c, NULL, "c3", "10.0.0.3:1003", 0);
  du_connect(&b, &a, 0);
  du_connect(&a, &c, 0);
  du_node *all[3] = {&a, &b, &c};
  static const char py[] =
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"198.51.100.3\", \"port\": 40003}";
  static const char js[] =
      "{\"_gossip\":true,\"id\":\"54a8b90492ffc039\",\"ip\":\"198.51.100.4\",\"port\":40004}";
  assert_int_equal(sw_core_write(b.c, core_identity(a.c)->id, py, strlen(py), 1), SW_OK);
  assert_int_equal(sw_core_write(b.c, core_identity(a.c)->id, js, strlen(js), 1), SW_OK);
  du_pump(all, 3, 1);
  sw_core_stats st;
  sw_core_get_stats(a.c, &st);
  assert_int_equal(st.gossip, 2);
  assert_int_equal(a.data_events, 0);
  sw_core_get_stats(c.c, &st);
  assert_int_equal(st.gossip, 2); /* flooded on like any message */
  assert_int_equal(c.data_events, 0);
  /* ordinary data still arrives */
  static const char msg[] = "{\"_gossip\": \"no\"}";
  assert_int_equal(sw_core_write(b.c, core_identity(a.c)->id, msg, strlen(msg), 2), SW_OK);
  du_pump(all, 3, 2);
  assert_int_equal(a.data_events, 1);
  assert_int_equal(c.data_events, 1);
  assert_memory_equal(a.last_data, msg, strlen(msg));
  /* nobody was dialled for the gossip: meeting is off by default */
  assert_int_equal(sw_core_peer_count(a.c), 2);
  sw_core_free(a.c);
  sw_core_free(b.c);
  sw_core_free(c.c);
}

static void test_gossip_meet_option(void **state) {
  (void)state;
  sw_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gossip_meet = 1;
  du_node a, b;
  du_init(&a, &cfg, "a1", "10.0.0.1:1001", 0);
  du_init(&b, NULL, "b2", "10.0.0.2:1002", 0);
  du_connect(&b, &a, 0);
  static const char g[] =
      "{\"_gossip\": true, \"id\": \"7aa1a01bb188b600\", \"ip\": \"198.51.100.3\", \"port\": 40003}";
  assert_int_equal(sw_core_write(b.c, core_identity(a.c)->id, g, strlen(g), 1), SW_OK);
  sw_dgram d[8];
  sw_core_flush(b.c, 1);
  size_t k = sw_core_out_peek(b.c, d, 8);
  for (size_t j = 0; j < k; j++)
    sw_core_datagram(a.c, SW_SOCK_MAIN, &b.addr, d[j].data, d[j].len, 1);
  sw_core_out_consume(b.c, k, 1);
  sw_addr target;
  addr_parse_hostport(&target, "198.51.100.3:40003");
  assert_int_equal(du_count_out(&a, SW_SOCK_MAIN, 0xA1, &target, 1), 1);
  assert_int_equal(a.data_events, 0);
  sw_core_free(a.c);
  sw_core_free(b.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_both_spacings), cmocka_unit_test(test_lookalikes),
      cmocka_unit_test(test_delivery_path), cmocka_unit_test(test_gossip_meet_option),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
