// A DPoP client this project did not write: openid-client 6 (RFC 9449 through
// oauth4webapi). Gets a DPoP-bound token from the issuer (discovered from its RFC 8414
// metadata) and calls a protected route through the gateway; then tries what a thief
// holding the token could: no proof, the bearer scheme, a replayed proof.
// Env: ISSUER (the issuer's URL, fronted by the gateway), CLIENT_ID, CLIENT_SECRET,
// API_URL; NODE_EXTRA_CA_CERTS makes Node trust the test CA. Prints one JSON line.
import * as client from "openid-client";

const sent = []; // every request openid-client made: url, method, DPoP and Authorization
const config = await client.discovery(
  new URL(process.env.ISSUER),
  process.env.CLIENT_ID,
  undefined,
  client.ClientSecretBasic(process.env.CLIENT_SECRET),
  { algorithm: "oauth2" }, // RFC 8414 metadata: the issuer is not an OpenID provider
);
config[client.customFetch] = (url, options) => {
  const headers = new Headers(options.headers);
  sent.push({
    url: String(url),
    method: options.method,
    dpop: headers.get("dpop"),
    authorization: headers.get("authorization"),
  });
  return fetch(url, options);
};

const keyPair = await client.randomDPoPKeyPair("ES256");
const dpop = client.getDPoPHandle(config, keyPair);
const tokens = await client.clientCredentialsGrant(
  config,
  { scope: "orders:read" },
  { DPoP: dpop },
);

const api = new URL(`${process.env.API_URL}/orders/1`);
const allowed = await client.fetchProtectedResource(
  config, tokens.access_token, api, "GET", undefined, undefined, { DPoP: dpop },
);
const call = sent.at(-1);

const status = async (headers) => (await fetch(api, { headers })).status;
const result = {
  token_type: tokens.token_type,
  token: tokens.access_token,
  token_request_proof: sent.find((r) => r.url.endsWith("/oauth2/token"))?.dpop ?? null,
  api_status: allowed.status,
  api_body: await allowed.json(),
  api_authorization_scheme: call.authorization.split(" ")[0],
  // a thief with the token only:
  no_proof_status: await status({ authorization: `DPoP ${tokens.access_token}` }),
  bearer_status: await status({ authorization: `Bearer ${tokens.access_token}` }),
  // ... or with the token and a proof it saw on the wire:
  replay_status: await status({ authorization: call.authorization, dpop: call.dpop }),
};
console.log(JSON.stringify(result));
