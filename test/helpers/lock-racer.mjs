// One of several processes racing to take a data directory's lock at the
// same instant. Prints "won" and keeps the lock until it is killed (a crash:
// the lock stays behind), or prints the error code it was refused with.
import { acquireLock } from "../../dist/ledger/lock.js";

const [dir, startAt] = process.argv.slice(2);
const start = Number(startAt);
while (performance.timeOrigin + performance.now() < start) {
  // spin: every racer that is running then starts within microseconds of the others
}
try {
  acquireLock(dir);
  process.stdout.write("won\n");
  setInterval(() => {}, 1000); // hold it until the test has heard from every racer
} catch (error) {
  process.stdout.write(`${error.code ?? error.message}\n`);
}
