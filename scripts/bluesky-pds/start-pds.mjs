// Launcher for Herald's Bluesky test peer: a did:plc directory and the
// official @atproto/pds, both listening on loopback only. run-pds.sh copies
// it next to the installed packages and runs it.
import { createRequire } from 'node:module'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'

const require = createRequire(import.meta.url)
const { PlcServer, Database } = require('@did-plc/server')

const started = Date.now()
const host = process.env.BIND_HOST || '127.0.0.1'
const plcPort = parseInt(process.env.PLC_PORT || '2582', 10)

// Both servers are Express apps whose listen(port) binds every interface;
// a test peer must not be reachable from outside the machine.
const onLoopback = (app) => {
  const listen = app.listen.bind(app)
  app.listen = (port, ...rest) => listen(port, host, ...rest)
}

// The PLC directory keeps DIDs in memory unless PLC_DB_URL names a
// Postgres database: with the in-memory one, run-pds.sh wipes the PDS data
// on every start so the PDS never holds accounts whose DIDs are gone.
const plcDb = process.env.PLC_DB_URL
  ? Database.postgres({ url: process.env.PLC_DB_URL, schema: process.env.PLC_DB_SCHEMA })
  : Database.mock()
if (process.env.PLC_DB_URL) await plcDb.migrateToLatestOrThrow()
const plc = PlcServer.create({ db: plcDb, port: plcPort })
onLoopback(plc.app)
await plc.start()

const env = readEnv()
env.didPlcUrl = env.didPlcUrl ?? `http://${host}:${plcPort}`
const cfg = envToCfg(env)
const pds = await PDS.create(cfg, envToSecrets(env))
onLoopback(pds.app)
await pds.start()
console.log(`bluesky-pds: PDS on http://${host}:${cfg.service.port}, PLC on http://${host}:${plcPort}, ready in ${Date.now() - started} ms`)

const stop = async (signal) => {
  console.log(`bluesky-pds: ${signal}, stopping`)
  setTimeout(() => process.exit(0), 5000).unref()
  for (const server of [pds, plc]) {
    try { await server.destroy() } catch (err) { console.error(err) }
  }
  process.exit(0)
}
process.on('SIGINT', () => stop('SIGINT'))
process.on('SIGTERM', () => stop('SIGTERM'))
