// node: placeholder TU.
