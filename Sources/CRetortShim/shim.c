#include "retort_shim.h"
