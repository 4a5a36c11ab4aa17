// What this page and the test kit's pages (served from it under /kit/) share: WebTransport
// stream and datagram echoes, and the JSON report a page POSTs to its server.
const enc = (s) => new TextEncoder().encode(s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function readText(readable) {
  const reader = readable.getReader();
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + dec.decode();
    text += dec.decode(value, { stream: true });
  }
}

async function send(writable, text) {
  const writer = writable.getWriter();
  await writer.write(enc(text));
  await writer.close();
}

// `text` on a new bidirectional stream; what came back.
async function bidiEcho(wt, text) {
  const stream = await wt.createBidirectionalStream();
  await send(stream.writable, text);
  return readText(stream.readable);
}

// `text` on a new unidirectional stream; what came back on the server's.
async function uniEcho(wt, text) {
  const incoming = wt.incomingUnidirectionalStreams.getReader();
  await send(await wt.createUnidirectionalStream(), text);
  const { value: back } = await incoming.read();
  return readText(back);
}

// Datagrams may be lost: sends `text` until the echo arrives (50 tries); null if it never did.
async function datagramEcho(wt, text) {
  const echoed = wt.datagrams.readable.getReader().read();
  let got = null;
  echoed.then((r) => { got = new TextDecoder().decode(r.value); });
  const writer = wt.datagrams.writable.getWriter();
  for (let i = 0; i < 50 && got === null; i++) {
    await writer.write(enc(text));
    await Promise.race([echoed, sleep(200)]);
  }
  return got;
}

// Shows `report` in #report, then POSTs it as JSON to `path` of this server.
async function postReport(path, report) {
  const out = document.getElementById("report");
  out.textContent = JSON.stringify(report, null, 2);
  out.hidden = false;
  await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(report),
  });
}
