/**
 * Plain progress output. On a terminal, batch progress rewrites one status
 * line; elsewhere (CI, pipes, --no-tui) every message is its own line and
 * batch progress is printed at most every few seconds.
 */
export class ProgressLog {
  private statusShown = false;
  private lastStatusAt = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly interactive = stream.isTTY === true,
    private readonly plainIntervalMs = 5000,
  ) {}

  /** A permanent line. */
  line(message: string): void {
    this.clearStatus();
    this.stream.write(`${message}\n`);
  }

  /** A transient progress message. */
  status(message: string): void {
    const now = Date.now();
    if (this.interactive) {
      this.stream.write(`\r\x1b[2K${message}`);
      this.statusShown = true;
    } else if (now - this.lastStatusAt >= this.plainIntervalMs) {
      this.stream.write(`${message}\n`);
      this.lastStatusAt = now;
    }
  }

  private clearStatus(): void {
    if (this.statusShown) this.stream.write('\r\x1b[2K');
    this.statusShown = false;
  }
}
