#include <cstdio>
int main() { std::puts("kithctl: not built yet"); return 1; }
