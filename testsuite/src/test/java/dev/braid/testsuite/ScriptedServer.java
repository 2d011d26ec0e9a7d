package dev.braid.testsuite;

import dev.braid.internal.wire.FrameHeader;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A one-connection TCP server on loopback driven by the test with blocking reads and writes of whole
 * frames: plays a plain libvirt daemon or a peer that stops answering.
 */
final class ScriptedServer implements AutoCloseable {
    private final ServerSocket listener;
    private final CompletableFuture<Socket> accepted = new CompletableFuture<>();
    private DataInputStream in;
    private DataOutputStream out;

    ScriptedServer() throws IOException {
        listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            try {
                accepted.complete(listener.accept());
            } catch (IOException e) {
                accepted.completeExceptionally(e);
            }
        });
    }

    InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), listener.getLocalPort());
    }

    private void ensureAccepted() throws Exception {
        if (in == null) {
            final Socket s = accepted.get(30, TimeUnit.SECONDS);
            s.setSoTimeout(30_000); // reached only when a test fails: set for a loaded machine
            in = new DataInputStream(s.getInputStream());
            out = new DataOutputStream(s.getOutputStream());
        }
    }

    /** Reads one whole frame (blocking, 10 s timeout). */
    ByteBuffer readFrame() throws Exception {
        ensureAccepted();
        final int length = in.readInt();
        final byte[] rest = new byte[length - 4];
        in.readFully(rest);
        return ByteBuffer.allocate(length).putInt(length).put(rest).flip();
    }

    /** Reads frames until one matches {@code type} and {@code prog}, collecting the others. */
    ByteBuffer readFrame(final int type, final int prog, final LinkedBlockingQueue<ByteBuffer> others) throws Exception {
        while (true) {
            final ByteBuffer f = readFrame();
            if (f.getInt(FrameHeader.TYPE_OFFSET) == type && f.getInt(FrameHeader.PROG_OFFSET) == prog) {
                return f;
            }
            if (others != null) {
                others.add(f);
            }
        }
    }

    void write(final ByteBuffer frame) throws Exception {
        ensureAccepted();
        out.write(frame.array(), frame.arrayOffset(), frame.limit());
        out.flush();
    }

    static ByteBuffer frame(final int prog, final int vers, final int proc, final int type, final int serial,
                            final int status, final byte[] payload) {
        final ByteBuffer b = ByteBuffer.allocate(FrameHeader.HEADER_LENGTH + payload.length);
        b.putInt(b.capacity()).putInt(prog).putInt(vers).putInt(proc).putInt(type).putInt(serial).putInt(status)
                .put(payload).flip();
        return b;
    }

    @Override
    public void close() throws IOException {
        listener.close();
        if (accepted.isDone() && !accepted.isCompletedExceptionally()) {
            accepted.join().close();
        }
    }
}
