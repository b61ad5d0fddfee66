#include "simnet.h"
typedef int simnet_placeholder;
