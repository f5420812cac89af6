// Everything is in include/CPrefetch.h (static inline); SwiftPM needs one
// source file to build a C target.
#include "CPrefetch.h"
