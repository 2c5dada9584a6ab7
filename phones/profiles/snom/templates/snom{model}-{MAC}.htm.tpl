<?xml version="1.0" encoding="utf-8"?>
{#- Snom per-device setting-files list: the phone fetches each file in order. It names the phone's own <MAC>.xml (the MAC written here, not left to the phone), and no secret. #}
<setting-files>
  <file url="{{ http_base_url | default('') | e }}/{{ device.mac_hex | upper }}.xml"/>
</setting-files>
