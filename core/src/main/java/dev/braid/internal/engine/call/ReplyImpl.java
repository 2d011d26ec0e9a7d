package dev.braid.internal.engine.call;

import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Frames;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/** A reply owning its pooled frame until {@link #close()}; the first close releases it, later ones do nothing. */
final class ReplyImpl implements Reply {
    private static final VarHandle FRAME;

    static {
        try {
            FRAME = MethodHandles.lookup().findVarHandle(ReplyImpl.class, "frame", PooledBuffer.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Procedure procedure;
    private final int serial;
    @SuppressWarnings("unused") // accessed through FRAME
    private volatile PooledBuffer frame;

    ReplyImpl(final Procedure procedure, final int serial, final PooledBuffer frame) {
        this.procedure = procedure;
        this.serial = serial;
        this.frame = frame;
    }

    @Override
    public Procedure procedure() {
        return procedure;
    }

    @Override
    public int serial() {
        return serial;
    }

    private PooledBuffer frame() {
        final PooledBuffer f = frame;
        if (f == null) {
            throw new IllegalStateException("reply " + serial + " is closed; its payload was returned to the pool");
        }
        return f;
    }

    @Override
    public ByteBuffer payload() {
        return Frames.payloadView(frame());
    }

    @Override
    public byte[] toByteArray() {
        final ByteBuffer p = payload();
        final byte[] bytes = new byte[p.remaining()];
        p.get(bytes);
        return bytes;
    }

    @Override
    public void close() {
        final PooledBuffer f = (PooledBuffer) FRAME.getAndSet(this, null);
        if (f != null) {
            f.release();
        }
    }
}
