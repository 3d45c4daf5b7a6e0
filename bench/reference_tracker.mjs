// The reference: PeerTube's tracker (@peertube/bittorrent-tracker-server 11.1.2), wired the way
// PeerTube's server/core/controllers/tracker.ts wires it, minus express: a TrackerServer with its
// own listeners off, a `ws` WebSocketServer({noServer: true}) fed from the HTTP server's
// "upgrade" event on /tracker/socket, and onHttpRequest on /tracker/announce and /tracker/scrape.
// The filter is PeerTube's with its defaults (tracker enabled, private, too-many-announces
// rejection off, so the per-IP counters are kept but never refuse): it allows the infohashes of
// the benchmark's catalogue, held in memory as PeerTube's cached lookup holds them.
//
// Usage: node bench/reference_tracker.mjs --port PORT --hashes FILE (one hex infohash a line)

import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'

import { Server as TrackerServer } from '@peertube/bittorrent-tracker-server'
import { WebSocketServer } from 'ws'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    hashes: { type: 'string' }
  }
})

const catalogue = new Set(
  readFileSync(values.hashes, 'utf8').split('\n').map(line => line.trim()).filter(Boolean)
)

let peersIps = {}
let peersIpInfoHash = {}
// PeerTube resets its counters every TRACKER_RATE_LIMITS.INTERVAL (5 minutes).
setInterval(() => {
  peersIps = {}
  peersIpInfoHash = {}
}, 5 * 60 * 1000).unref()

const trackerServer = new TrackerServer({
  http: false,
  udp: false,
  ws: false,
  filter: async function (infoHash, params, cb) {
    const ip = params.type === 'ws' ? params.ip : params.httpReq.socket.remoteAddress
    const key = ip + '-' + infoHash
    peersIps[ip] = peersIps[ip] ? peersIps[ip] + 1 : 1
    peersIpInfoHash[key] = peersIpInfoHash[key] ? peersIpInfoHash[key] + 1 : 1

    if (catalogue.has(infoHash)) return cb()
    cb(new Error(`Unknown infoHash ${infoHash} requested by ip ${ip}`))
    if (params.type === 'ws') setTimeout(() => params.socket.close(), 0)
  }
})
trackerServer.on('error', err => console.error('tracker error', err.message))
// Warnings are client mistakes; PeerTube logs them at warn level. Count, do not flood stderr.
let warnings = 0
trackerServer.on('warning', () => { warnings++ })
process.on('SIGUSR2', () => console.error(`warnings: ${warnings}`))

const onHttpRequest = trackerServer.onHttpRequest.bind(trackerServer)
const server = createServer((req, res) => {
  const path = req.url.split('?')[0]
  if (req.method === 'GET' && path === '/tracker/announce') {
    return onHttpRequest(req, res, { action: 'announce' })
  }
  if (req.method === 'GET' && path === '/tracker/scrape') {
    return onHttpRequest(req, res, { action: 'scrape' })
  }
  res.statusCode = 404
  res.end()
})

const wss = new WebSocketServer({ noServer: true })
wss.on('connection', (ws, req) => {
  ws.ip = req.socket.remoteAddress
  trackerServer.onWebSocketConnection(ws)
})
server.on('upgrade', (request, socket, head) => {
  if (request.url.split('?')[0] === '/tracker/socket') {
    return wss.handleUpgrade(request, socket, head, ws => wss.emit('connection', ws, request))
  }
  socket.destroy()
})

server.listen(Number(values.port), values.host, () => {
  console.log(`reference tracker on http://${values.host}:${values.port}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0))
}
