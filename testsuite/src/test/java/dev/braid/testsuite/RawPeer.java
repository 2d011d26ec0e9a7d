package dev.braid.testsuite;

import dev.braid.RemoteError;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.RemoteErrorCodec;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

import static dev.braid.internal.wire.FrameHeader.HEADER_LENGTH;

/**
 * A peer that speaks raw bytes over a plain blocking {@link Socket}, to play a misbehaving libvirt client or
 * server against braid. It builds frames field by field, any field wrong on purpose, and reads back what
 * braid sends. It knows nothing of braid's engine: only the wire layout of {@link FrameHeader}.
 *
 * <p>Every read waits at most {@link #WAIT_MILLIS}: a peer that stays silent fails the test with an
 * {@link AssertionError} saying what was expected, instead of hanging it.
 *
 * <p><b>Thread.</b> The test thread only; not thread-safe.
 */
final class RawPeer implements AutoCloseable {
    /**
     * Longest wait for anything braid is expected to do. Reached only when a test fails, so it is set for a
     * loaded machine (where a few seconds can pass before a starved thread runs), not for a quick failure.
     */
    static final int WAIT_MILLIS = 30_000;
    /** Largest frame {@link #readFrame()} accepts, so that a garbled length cannot make it allocate wildly. */
    private static final int MAX_READ_FRAME = 64 << 20;

    /** A frame as read from the wire, header fields as received. */
    record Frame(int prog, int vers, int proc, int type, int serial, int status, byte[] payload) {

        /** Read-only view of the payload. */
        ByteBuffer payloadBuffer() {
            return ByteBuffer.wrap(payload).asReadOnlyBuffer();
        }

        /** The payload decoded as a remote_error (the body of an ERROR reply). */
        RemoteError remoteError() {
            return RemoteErrorCodec.decode(payloadBuffer());
        }

        /** The payload decoded as a braid_hello. */
        Extension.Hello hello() {
            return Extension.Hello.decode(payloadBuffer());
        }

        boolean isKeepalive(final int keepaliveProc) {
            return prog == Extension.KEEPALIVE_PROGRAM && vers == Extension.KEEPALIVE_VERSION
                    && proc == keepaliveProc && type == FrameHeader.TYPE_MESSAGE && serial == 0
                    && status == FrameHeader.STATUS_OK && payload.length == 0;
        }

        @Override
        public String toString() {
            return FrameHeader.typeName(type) + "/" + FrameHeader.statusName(status) + " prog 0x"
                    + Integer.toHexString(prog) + " vers " + Integer.toUnsignedString(vers) + " proc " + proc
                    + " serial " + Integer.toUnsignedString(serial) + " payload " + payload.length + " bytes";
        }
    }

    /** A listening socket on loopback, for playing a server. */
    static final class Listener implements AutoCloseable {
        private final ServerSocket socket;

        private Listener(final ServerSocket socket) {
            this.socket = socket;
        }

        InetSocketAddress address() {
            return new InetSocketAddress(socket.getInetAddress(), socket.getLocalPort());
        }

        /** Accepts one connection, waiting at most {@link #WAIT_MILLIS}. */
        RawPeer accept() {
            try {
                socket.setSoTimeout(WAIT_MILLIS);
                return new RawPeer(socket.accept());
            } catch (SocketTimeoutException e) {
                throw new AssertionError("no connection to " + address() + " within " + WAIT_MILLIS + " ms", e);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;

    private RawPeer(final Socket socket) throws IOException {
        this.socket = socket;
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(WAIT_MILLIS);
        this.in = new DataInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    /** Connects to {@code address} as a client. */
    static RawPeer connect(final InetSocketAddress address) {
        final Socket s = new Socket();
        try {
            s.connect(address, WAIT_MILLIS);
            return new RawPeer(s);
        } catch (IOException e) {
            try {
                s.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new UncheckedIOException(e);
        }
    }

    /** Listens on an ephemeral loopback port, to play a server. */
    static Listener listen() {
        try {
            return new Listener(new ServerSocket(0, 8, InetAddress.getLoopbackAddress()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ building bytes

    /** A whole frame: the length word is computed from the payload. */
    static byte[] frame(final int prog, final int vers, final int proc, final int type, final int serial,
                        final int status, final byte[] payload) {
        return concat(header(HEADER_LENGTH + payload.length, prog, vers, proc, type, serial, status), payload);
    }

    /** A frame without payload. */
    static byte[] frame(final int prog, final int vers, final int proc, final int type, final int serial,
                        final int status) {
        return frame(prog, vers, proc, type, serial, status, new byte[0]);
    }

    /** The 28 header bytes with whatever {@code length} word the test wants, true or not. */
    static byte[] header(final int length, final int prog, final int vers, final int proc, final int type,
                         final int serial, final int status) {
        return ByteBuffer.allocate(HEADER_LENGTH).putInt(length).putInt(prog).putInt(vers).putInt(proc).putInt(type)
                .putInt(serial).putInt(status).array();
    }

    /** XDR words, big-endian. */
    static byte[] words(final int... words) {
        final ByteBuffer b = ByteBuffer.allocate(4 * words.length);
        for (int w : words) {
            b.putInt(w);
        }
        return b.array();
    }

    /** A braid_hello payload. */
    static byte[] hello(final int version, final int features, final int maxMessage, final int maxOutstanding,
                        final int maxStreams, final int initialWindow) {
        return words(version, features, maxMessage, maxOutstanding, maxStreams, initialWindow);
    }

    /** A well-formed remote_error payload. */
    static byte[] remoteError(final RemoteError e) {
        final ByteBuffer b = ByteBuffer.allocate(RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, b);
        return b.array();
    }

    static byte[] concat(final byte[]... parts) {
        final ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }

    // ------------------------------------------------------------------ talking

    /** Writes {@code parts} back to back in one write. */
    void send(final byte[]... parts) {
        try {
            out.write(concat(parts));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Half-closes: sends FIN after what was written; reading still works. */
    void shutdownOutput() {
        try {
            socket.shutdownOutput();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads one whole frame, waiting at most {@link #WAIT_MILLIS}. The PING braid's window tuner sends once
     * the HELLO is done (docs/design.md §8, "Window auto-tuning") is skipped: it is not what these tests look
     * at, and it may come before or after what they do.
     */
    Frame readFrame() {
        while (true) {
            final Frame f = readAnyFrame();
            if (!isTunerPing(f.prog(), f.proc(), f.type())) {
                return f;
            }
        }
    }

    private static boolean isTunerPing(final int prog, final int proc, final int type) {
        return prog == dev.braid.internal.wire.Extension.PROGRAM && proc == dev.braid.internal.wire.Extension.PROC_PING
                && type == dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE;
    }

    /** Reads one whole frame, whatever it is, waiting at most {@link #WAIT_MILLIS}. */
    Frame readAnyFrame() {
        try {
            socket.setSoTimeout(WAIT_MILLIS);
            final int length = in.readInt();
            if (length < HEADER_LENGTH || length > MAX_READ_FRAME) {
                throw new AssertionError("braid sent a frame length of " + Integer.toUnsignedString(length));
            }
            final byte[] rest = new byte[length - 4];
            in.readFully(rest);
            final ByteBuffer b = ByteBuffer.wrap(rest);
            final Frame f = new Frame(b.getInt(), b.getInt(), b.getInt(), b.getInt(), b.getInt(), b.getInt(),
                    new byte[length - HEADER_LENGTH]);
            b.get(f.payload());
            return f;
        } catch (SocketTimeoutException e) {
            throw new AssertionError("no frame within " + WAIT_MILLIS + " ms", e);
        } catch (EOFException e) {
            throw new AssertionError("the connection closed where a frame was expected", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads until the other side closes the connection (end of stream, or a reset, which is how a socket
     * closed with unread input ends), waiting at most {@link #WAIT_MILLIS} in all.
     *
     * @return the bytes received before the close
     */
    byte[] readUntilClosed() {
        final ByteArrayOutputStream got = new ByteArrayOutputStream();
        final byte[] buf = new byte[8192];
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        try {
            while (true) {
                final long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    throw new SocketTimeoutException();
                }
                socket.setSoTimeout((int) left);
                final int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    throw e;
                } catch (SocketException e) {
                    return withoutTunerPings(got.toByteArray()); // connection reset: closed too
                }
                if (n < 0) {
                    return withoutTunerPings(got.toByteArray());
                }
                got.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the connection was not closed within " + WAIT_MILLIS + " ms ("
                    + got.size() + " bytes received meanwhile)", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code bytes} without the whole frames in it that are the window tuner's PINGs (see {@link #readFrame}). */
    private static byte[] withoutTunerPings(final byte[] bytes) {
        final ByteBuffer b = ByteBuffer.wrap(bytes);
        final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        while (b.remaining() >= HEADER_LENGTH) {
            final int at = b.position();
            final int length = b.getInt(at);
            if (length < HEADER_LENGTH || length > b.remaining()) {
                break; // not a whole frame: kept as it is
            }
            if (!isTunerPing(b.getInt(at + 4), b.getInt(at + 12), b.getInt(at + 16))) {
                kept.write(bytes, at, length);
            }
            b.position(at + length);
        }
        kept.write(bytes, b.position(), b.remaining());
        return kept.toByteArray();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
