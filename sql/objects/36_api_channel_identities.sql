-- RPCs: channel identities, the addresses (email, phone, WhatsApp, ...) that tell an inbound message's lead.
-- Addresses are keyed in the form salesflow.normalize_address gives, so every lookup normalises first.

create or replace function api.link_channel_identity(
    org_id uuid,
    channel salesflow.channel,
    address text,
    lead_id uuid,
    verified boolean default false
)
returns api.channel_identities
language sql
set search_path = ''
as $$
    insert into salesflow.channel_identities as ci (org_id, channel, address, lead_id, verified)
    values (
        link_channel_identity.org_id,
        link_channel_identity.channel,
        -- normalised by the channel_identities_normalize trigger before the conflict check
        link_channel_identity.address,
        link_channel_identity.lead_id,
        coalesce(link_channel_identity.verified, false)
    )
    on conflict (org_id, channel, address) do update set
        lead_id = excluded.lead_id,
        -- verification is of this address for this lead: re-linking to the same lead keeps it,
        -- moving the address to another lead starts over with what the caller says
        verified = case when ci.lead_id = excluded.lead_id then ci.verified or excluded.verified else excluded.verified end
    returning salesflow.api_channel_identity(ci)
$$;
comment on function api.link_channel_identity(uuid, salesflow.channel, text, uuid, boolean) is
'Link a channel address to a lead; the address is normalised (emails lower case, phone numbers + and digits). '
'Linking an address that is already linked moves it to the lead given.';

create or replace function api.find_lead_by_address(org_id uuid, channel salesflow.channel, address text)
returns api.leads
language plpgsql
stable
set search_path = ''
as $$
declare
    found_row salesflow.leads;
begin
    select l.* into found_row
    from salesflow.channel_identities as ci
    join salesflow.leads as l on l.org_id = ci.org_id and l.id = ci.lead_id
    where ci.org_id = find_lead_by_address.org_id
      and ci.channel = find_lead_by_address.channel
      and ci.address = salesflow.normalize_address(find_lead_by_address.channel, find_lead_by_address.address);
    if found_row is null then
        -- salesflow.not_found names rows by uuid; an address is not one, so raise the same error here
        raise sqlstate 'PT404' using
            message = pg_catalog.format(
                'no lead has %s address %s', find_lead_by_address.channel, find_lead_by_address.address
            ),
            hint = 'Link the address to a lead with link_channel_identity first.';
    end if;
    return salesflow.api_lead(found_row);
end
$$;
comment on function api.find_lead_by_address(uuid, salesflow.channel, text) is
'The lead a channel address is linked to (the address is normalised first); 404 when none is.';

create or replace function api.list_channel_identities(org_id uuid, lead_id uuid)
returns setof api.channel_identities
language sql
stable
set search_path = ''
as $$
    select salesflow.api_channel_identity(ci) from salesflow.channel_identities as ci
    where ci.org_id = list_channel_identities.org_id and ci.lead_id = list_channel_identities.lead_id
    order by ci.channel, ci.address
$$;
comment on function api.list_channel_identities(uuid, uuid) is 'The channel addresses linked to a lead.';

create or replace function api.unlink_channel_identity(org_id uuid, channel salesflow.channel, address text)
returns api.channel_identities
language plpgsql
set search_path = ''
as $$
declare
    normalized text := salesflow.normalize_address(unlink_channel_identity.channel, unlink_channel_identity.address);
    r salesflow.channel_identities;
begin
    perform from salesflow.channel_identities as ci
    where ci.org_id = unlink_channel_identity.org_id
      and ci.channel = unlink_channel_identity.channel
      and ci.address = normalized;
    if not found then
        raise sqlstate 'PT404' using
            message = pg_catalog.format(
                '%s address %s not found', unlink_channel_identity.channel, unlink_channel_identity.address
            ),
            hint = 'The address is not linked, or belongs to an organisation you are not a member of.';
    end if;
    delete from salesflow.channel_identities as ci
    where ci.org_id = unlink_channel_identity.org_id
      and ci.channel = unlink_channel_identity.channel
      and ci.address = normalized
    returning ci.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format(
                'you may not unlink %s address %s', unlink_channel_identity.channel, unlink_channel_identity.address
            ),
            hint = 'Only owners and admins unlink addresses.';
    end if;
    return salesflow.api_channel_identity(r);
end
$$;
comment on function api.unlink_channel_identity(uuid, salesflow.channel, text) is
'Remove the link between a channel address and its lead (owners and admins); 404 when the address is not linked.';
