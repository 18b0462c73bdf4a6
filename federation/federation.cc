// federation: placeholder TU until the first federation sources land.
