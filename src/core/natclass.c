/* NAT classification from probe results (natclass.h). */
#include "natclass.h"

#include <string.h>

#include "stun.h"

static int same_ip(const sw_addr *x, const sw_addr *y) {
  if (x->family != y->family || (x->family != 4 && x->family != 6)) return 0;
  return memcmp(x->ip, y->ip, x->family == 4 ? 4 : 16) == 0;
}

static int valid(const sw_addr *x) { return x->family == 4 || x->family == 6; }

static int answered(const nat_probe *p) {
  return p->answered && valid(&p->server) && valid(&p->mapped);
}

int natclass_change_honoured(const sw_addr *sent_to, const sw_addr *came_from, unsigned change) {
  if (!sent_to || !came_from || !valid(sent_to) || !valid(came_from)) return 0;
  int ip_changed = !same_ip(sent_to, came_from);
  int port_changed = sent_to->port != came_from->port;
  return ip_changed == !!(change & STUN_CHANGE_IP) &&
         port_changed == !!(change & STUN_CHANGE_PORT);
}

static nat_mapping mapping_of(const natclass_input *in) {
  const nat_probe *a = &in->a, *b = &in->b, *b2 = &in->b2;
  if (!answered(a)) return NAT_MAP_UNKNOWN;
  /* test II must reach another IP of the same family, else it says nothing about the
   * mapping (an IPv6 path does not cross the IPv4 NAT) */
  if (!answered(b) || same_ip(&b->server, &a->server) || b->server.family != a->server.family)
    return NAT_MAP_UNKNOWN;
  if (addr_equal(&b->mapped, &a->mapped)) return NAT_MAP_EI;
  /* test III: b's IP, another port */
  if (answered(b2) && same_ip(&b2->server, &b->server) && b2->server.port != b->server.port)
    return addr_equal(&b2->mapped, &b->mapped) ? NAT_MAP_AD : NAT_MAP_APD;
  return NAT_MAP_DEPENDENT;
}

static nat_filtering filtering_of(const natclass_input *in) {
  if (!answered(&in->a)) return NAT_FILT_UNKNOWN; /* no hole to test */
  switch (in->change_ip_port) {
  case NAT_YES: return NAT_FILT_EI;
  case NAT_NO: break;
  default: return NAT_FILT_UNKNOWN;
  }
  switch (in->change_port) {
  case NAT_YES: return NAT_FILT_AD;
  case NAT_NO: return NAT_FILT_APD;
  default: return NAT_FILT_DEPENDENT;
  }
}

static int is_local(const natclass_input *in, const sw_addr *mapped) {
  for (size_t i = 0; in->locals && i < in->nlocals; i++)
    if (addr_equal(&in->locals[i], mapped)) return 1;
  return 0;
}

natclass_result natclass_classify(const natclass_input *in) {
  natclass_result r = {NAT_MAP_UNKNOWN, NAT_FILT_UNKNOWN, NAT_TYPE_UNKNOWN};
  if (!in) return r;
  r.mapping = mapping_of(in);
  r.filtering = filtering_of(in);
  if (answered(&in->a) && is_local(in, &in->a.mapped))
    r.type = NAT_TYPE_OPEN; /* no translation; a firewall may still filter */
  else if (r.mapping == NAT_MAP_AD || r.mapping == NAT_MAP_APD || r.mapping == NAT_MAP_DEPENDENT)
    r.type = NAT_TYPE_SYMMETRIC;
  else if (r.mapping == NAT_MAP_EI && r.filtering == NAT_FILT_EI)
    r.type = NAT_TYPE_FULL_CONE;
  else if (r.mapping == NAT_MAP_EI && r.filtering != NAT_FILT_UNKNOWN)
    r.type = NAT_TYPE_RESTRICTED_CONE;
  return r;
}

const char *natclass_type_name(nat_type t) {
  switch (t) {
  case NAT_TYPE_OPEN: return "open";
  case NAT_TYPE_FULL_CONE: return "full_cone";
  case NAT_TYPE_RESTRICTED_CONE: return "restricted_cone";
  case NAT_TYPE_SYMMETRIC: return "symmetric";
  default: return "unknown";
  }
}

const char *natclass_mapping_name(nat_mapping m) {
  switch (m) {
  case NAT_MAP_EI: return "endpoint-independent";
  case NAT_MAP_AD: return "address-dependent";
  case NAT_MAP_APD: return "address-and-port-dependent";
  case NAT_MAP_DEPENDENT: return "endpoint-dependent";
  default: return "unknown";
  }
}

const char *natclass_filtering_name(nat_filtering f) {
  switch (f) {
  case NAT_FILT_EI: return "endpoint-independent";
  case NAT_FILT_AD: return "address-dependent";
  case NAT_FILT_APD: return "address-and-port-dependent";
  case NAT_FILT_DEPENDENT: return "endpoint-dependent";
  default: return "unknown";
  }
}
