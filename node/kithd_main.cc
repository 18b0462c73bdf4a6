#include <cstdio>
int main() { std::puts("kithd: not built yet"); return 1; }
