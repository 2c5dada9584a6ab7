#!version:1.0.0.1
{#- Yealink common boot file: the phone loads the listed files in order, the per-device one last. #}
include:config "y000000000000.cfg"
include:config "$mac.cfg"
overwrite_mode = 1
