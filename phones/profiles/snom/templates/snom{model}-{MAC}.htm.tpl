<?xml version="1.0" encoding="utf-8"?>
{#- Snom per-device setting-files list: the phone fetches each file in order and replaces {mac} with its own MAC; no secret in it. #}
<setting-files>
  <file url="{{ http_base_url | default('') | e }}/snom-general.xml"/>
  <file url="{{ http_base_url | default('') | e }}/{mac}.xml"/>
</setting-files>
