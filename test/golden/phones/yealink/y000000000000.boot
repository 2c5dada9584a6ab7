#!version:1.0.0.1
include:config "y000000000000.cfg"
include:config "$mac.cfg"
overwrite_mode = 1
