// admin: placeholder TU.
