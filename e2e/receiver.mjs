// The webhook receiver the test config's contact methods point at: answers
// every request 204 and counts them per path, so pages are delivered
// without leaving the machine. Prints "receiver listening on PORT", and
// GET /deliveries answers the counts as JSON.
import { createServer } from 'node:http';

const deliveries = {};

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/deliveries') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(deliveries));
    return;
  }
  req.resume();
  req.on('end', () => {
    deliveries[req.url] = (deliveries[req.url] ?? 0) + 1;
    res.writeHead(204);
    res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  console.log(`receiver listening on ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
