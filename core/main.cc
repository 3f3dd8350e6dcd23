// kiln's entry point: argv -> Config -> plugins -> Master::Run. Wiring only.
#include <cstdio>

#include "core/build_info.h"

int main(int argc, char** argv) {
  std::printf("kiln %s\n", KILN_VERSION_STRING);
  return 0;
}
