// A supabase-js Realtime client for the tests (tests/realtime/test_js_client.py).
//
// Usage: node subscribe.mjs '<JSON parameters>', with GPTDESK_NODE_DIR naming the folder
// whose node_modules hold @supabase/supabase-js and ws. Parameters:
//   url, key            the server and its project key
//   token               a user's access token (optional; the project key when absent)
//   topic, config       the channel and its config ({broadcast, presence, private})
//   changes             postgres_changes bindings [{event, schema, table, filter}]
//   broadcasts          broadcast events to listen to
//   presence            true to listen to presence join and leave
//   track               a presence payload to track once subscribed (optional)
//   send                broadcasts [{event, payload}] to send once subscribed
//   count, timeout      exit after `count` events, or after `timeout` seconds
//
// Prints one JSON line per happening: {"kind": "status", ...} for the subscription,
// {"kind": "postgres_changes" | "broadcast" | "presence", ...} for each event received,
// {"kind": "sent", ...} for each broadcast sent, and {"kind": "done", "reason": ...} last.
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.GPTDESK_NODE_DIR, 'resolve.js'))
const { createClient } = require('@supabase/supabase-js')
const WebSocket = require('ws')

const params = JSON.parse(process.argv[2])
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n')

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: WebSocket },
}
const supabase = createClient(params.url, params.key, options)
// As an app does after sign-in: the channel joins with the user's token.
if (params.token) await supabase.realtime.setAuth(params.token)

let events = 0
let finished = false
const finish = async (reason) => {
  if (finished) return
  finished = true
  print({ kind: 'done', reason, vsn: supabase.realtime.vsn })
  await supabase.removeAllChannels()
  process.exit(0)
}
const received = (line) => {
  print(line)
  events += 1
  if (params.count && events >= params.count) finish('count')
}
setTimeout(() => finish('timeout'), (params.timeout ?? 20) * 1000)

const channel = supabase.channel(params.topic, { config: params.config ?? {} })
for (const binding of params.changes ?? []) {
  channel.on('postgres_changes', binding, (payload) =>
    received({ kind: 'postgres_changes', payload }),
  )
}
for (const event of params.broadcasts ?? []) {
  channel.on('broadcast', { event }, (payload) => received({ kind: 'broadcast', payload }))
}
if (params.presence) {
  channel.on('presence', { event: 'join' }, ({ key, newPresences }) =>
    received({ kind: 'presence', event: 'join', key, presences: newPresences }),
  )
  channel.on('presence', { event: 'leave' }, ({ key, leftPresences }) =>
    received({ kind: 'presence', event: 'leave', key, presences: leftPresences }),
  )
}
channel.subscribe(async (status, error) => {
  print({ kind: 'status', status, error: error ? String(error.message ?? error) : null })
  if (status !== 'SUBSCRIBED') return
  if (params.track) print({ kind: 'tracked', status: await channel.track(params.track) })
  for (const message of params.send ?? []) {
    const status = await channel.send({ type: 'broadcast', ...message })
    print({ kind: 'sent', event: message.event, status })
  }
})
