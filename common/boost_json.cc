// Boost.JSON as a header-only library: its implementation is compiled once, here.
#include <boost/json/src.hpp>
