#include "ctapshim.h"
