{#- Yealink per-device boot file <mac>.boot (firmware 81 and later): the same list as the common boot file, no secret in it. -#}
{% include "y000000000000.boot.tpl" -%}
