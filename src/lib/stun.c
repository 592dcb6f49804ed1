/* natpilot: STUN codec. Placeholder until the codec lands (issue #2). */
#include "natpilot/stun.h"
