package dev.braid.cli;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.IncomingCall;
import dev.braid.Peer;
import dev.braid.StreamListener;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.LockSupport;

/**
 * The CONSOLE procedure of {@code braid serve --console CMD}: every stream starts its own {@code /bin/sh -c
 * CMD} with stdin and stdout (stderr merged) attached to the stream, like {@code virsh console}.
 *
 * <h2>Threads</h2>
 * braid's side is non-blocking: the stream's {@link StreamListener} runs on the connection's I/O thread and
 * only unparks the session's two process pumps, which are the only threads a session has (the process's
 * pipes block, so something must wait on them):
 * <ul>
 *   <li>the <b>input pump</b> is the stream's only reader: {@code tryRead} into a buffer, write it to the
 *   process's stdin, park when nothing is readable;</li>
 *   <li>the <b>output pump</b> is the stream's only writer: read the process's stdout, {@code tryWrite} it,
 *   park while the stream's window is full; at the process's end it finishes the stream.</li>
 * </ul>
 * An abort by the client (its escape key) or a lost connection kills the process.
 */
final class ConsoleService {
    private record Key(Peer peer, int serial) {
    }

    private final String command;
    private final int maxSessions;
    private final Map<Key, Session> sessions = new ConcurrentHashMap<>();
    /** Sessions may start while this has permits: one per session, given back when its process is gone. */
    private final Semaphore slots;

    /** @param maxSessions sessions at once; one more is refused with code 7 ({@link FileProtocol#ERR_LIMIT}) */
    ConsoleService(final String command, final int maxSessions) {
        this.command = command;
        this.maxSessions = maxSessions;
        this.slots = new Semaphore(maxSessions);
    }

    void open(final IncomingCall call, final BraidStream stream) throws IOException {
        if (!slots.tryAcquire()) {
            throw FileProtocol.error(FileProtocol.ERR_LIMIT, "too many consoles: " + maxSessions
                    + " open (limit --max-consoles = " + maxSessions + ")");
        }
        final Process process;
        try {
            process = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true).start();
        } catch (IOException e) {
            slots.release();
            throw FileProtocol.error(FileProtocol.ERR_IO, "cannot start the console command: " + e.getMessage());
        }
        final Key key = new Key(call.peer(), call.serial());
        final Session s = new Session(process, stream, () -> {
            sessions.remove(key);
            slots.release();
        });
        sessions.put(key, s);
        try {
            call.reply(new byte[0]);
        } catch (RuntimeException e) { // the connection went before the session started: nothing will end it
            sessions.remove(key);
            Session.kill(process);
            slots.release();
            throw e;
        }
        s.start();
        // returns at once: the listener keeps the stream open
    }

    /** CONSOLE_CLOSE_INPUT: the client's input ended (it was not a terminal); close the process's stdin. */
    void closeInput(final IncomingCall call) {
        final int serial = new FileProtocol.Args(call.args(), "CONSOLE_CLOSE_INPUT arguments").u32("serial");
        final Session s = sessions.get(new Key(call.peer(), serial));
        if (s == null) {
            throw FileProtocol.error(FileProtocol.ERR_NOT_FOUND, "no console stream " + serial + " on this connection");
        }
        s.closeInput();
        call.reply(new byte[0]);
    }

    private static final class Session implements StreamListener {
        private final Process process;
        private final BraidStream stream;
        private final Runnable onEnd;
        private volatile Thread inputPump;
        private volatile Thread outputPump;
        private volatile boolean inputClosed;
        private volatile boolean ended;

        Session(final Process process, final BraidStream stream, final Runnable onEnd) {
            this.process = process;
            this.stream = stream;
            this.onEnd = onEnd;
        }

        void start() {
            inputPump = Thread.ofVirtual().name("console-in-" + stream.serial()).unstarted(this::pumpInput);
            outputPump = Thread.ofVirtual().name("console-out-" + stream.serial()).unstarted(this::pumpOutput);
            stream.setListener(this);
            inputPump.start();
            outputPump.start();
        }

        void closeInput() {
            inputClosed = true;
            LockSupport.unpark(inputPump);
        }

        // ---- listener: I/O thread, never blocks
        @Override
        public void onReadable(final BraidStream s) {
            unpark(inputPump);
        }

        @Override
        public void onHangup(final BraidStream s) {
            unpark(inputPump);
        }

        @Override
        public void onWritable(final BraidStream s) {
            unpark(outputPump);
        }

        @Override
        public void onError(final BraidStream s, final BraidException error) {
            ended = true;
            kill(process); // the client detached or the connection went
            unpark(inputPump);
            unpark(outputPump);
        }

        /** The command and whatever it started (a shell's children would keep the pipes open). */
        private static void kill(final Process p) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }

        private static void unpark(final Thread t) {
            if (t != null) {
                LockSupport.unpark(t);
            }
        }

        /** The stream's reader: client keystrokes to the process's stdin. */
        private void pumpInput() {
            final ByteBuffer buf = ByteBuffer.allocate(16 * 1024);
            final OutputStream stdin = process.getOutputStream();
            try (stdin) {
                while (!ended && !inputClosed) {
                    buf.clear();
                    final int n = stream.tryRead(buf);
                    if (n == BraidStream.EOF) {
                        return;
                    }
                    if (n == BraidStream.WOULD_BLOCK) {
                        LockSupport.park(this);
                        continue;
                    }
                    stdin.write(buf.array(), 0, n);
                    stdin.flush();
                }
            } catch (BraidException | IOException e) {
                // aborted (onError kills the process) or the process is gone (the output pump ends the stream)
            }
        }

        /** The stream's writer: the process's output to the client, then the finish handshake. */
        private void pumpOutput() {
            final byte[] b = new byte[16 * 1024];
            final InputStream stdout = process.getInputStream();
            try (stdout) {
                int n;
                while (!ended && (n = stdout.read(b)) >= 0) {
                    final ByteBuffer bb = ByteBuffer.wrap(b, 0, n);
                    while (bb.hasRemaining() && !ended) {
                        if (stream.tryWrite(bb) == BraidStream.WOULD_BLOCK) {
                            LockSupport.park(this);
                        }
                    }
                }
                process.waitFor();
                if (!ended) {
                    stream.finish(); // EOF, the client's OK, our OK
                }
            } catch (BraidException | IOException e) {
                kill(process);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stream.abort("server interrupted");
            } finally {
                ended = true;
                unpark(inputPump);
                kill(process);
                onEnd.run();
            }
        }
    }
}
