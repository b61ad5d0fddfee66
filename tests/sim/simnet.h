#ifndef SW_SIMNET_H
#define SW_SIMNET_H
#endif
