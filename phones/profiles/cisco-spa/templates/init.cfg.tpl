<?xml version="1.0" encoding="UTF-8"?>
{#- Cisco SPA/MPP common file init.cfg (PAP2T's default Profile Rule): it only points the phone at its own file ($MA is the phone's MAC, lowercase, expanded by the phone). No account, no password. #}
<flat-profile>
  <Provision_Enable ua="na">Yes</Provision_Enable>
  <Profile_Rule ua="na">{{ http_base_url | e }}/$MA.xml</Profile_Rule>
</flat-profile>
