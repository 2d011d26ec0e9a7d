package dev.braid.internal.engine;

import dev.braid.CallHandler;
import dev.braid.EventListener;
import dev.braid.HandlerMode;
import dev.braid.Marshaller;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.StreamHandler;
import dev.braid.TypedCallHandler;
import dev.braid.TypedStreamHandler;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.collections.Long2ObjectHashMap;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A server's procedures and event listeners. Built before the server binds, read-only afterwards, so the
 * I/O threads read it without synchronisation (it is published by the backend's start of the listener).
 * Look-ups allocate nothing: (program, version) is packed into a long key.
 */
public final class ProcedureRegistry {
    /** A registered procedure: a call handler, or a stream handler for a stream procedure. */
    public record Entry(Procedure procedure, CallHandler handler, StreamHandler streamHandler, HandlerMode mode) {
        boolean isStream() {
            return streamHandler != null;
        }
    }

    private final Long2ObjectHashMap<Int2ObjectHashMap<Entry>> procedures = new Long2ObjectHashMap<>();
    private final Long2ObjectHashMap<Int2ObjectHashMap<ConnectionEngine.Listener>> listeners = new Long2ObjectHashMap<>();
    private final Map<Integer, TreeSet<Integer>> versions = new TreeMap<>();

    static long key(final int prog, final int vers) {
        return ((long) prog << 32) | (vers & 0xFFFF_FFFFL);
    }

    public void add(final Procedure p, final CallHandler handler, final HandlerMode mode) {
        add(new Entry(p, handler, null, mode));
    }

    public void addStream(final Procedure p, final StreamHandler handler, final HandlerMode mode) {
        add(new Entry(p, null, handler, mode));
    }

    /**
     * A typed procedure: an adapter made once here decodes the request, runs {@code handler} and, unless the
     * handler answered or deferred itself, answers with its return value encoded straight into the reply
     * frame (nothing allocated per call beyond what the marshallers allocate).
     */
    public <Q, R> void addTyped(final ProcedureDescriptor<Q, R> d, final TypedCallHandler<Q, R> handler,
                                final HandlerMode mode) {
        final Marshaller<R> reply = d.reply();
        add(d.procedure(), call -> {
            final IncomingCallImpl c = (IncomingCallImpl) call;
            final R r = handler.handle(decodeRequest(d, c), call);
            if (!c.answeredOrDeferred()) {
                c.reply(reply, r);
            }
        }, mode);
    }

    /** A typed stream procedure: the opening call's request decoded for {@code handler}. */
    public <Q> void addTypedStream(final ProcedureDescriptor<Q, ?> d, final TypedStreamHandler<Q> handler,
                                   final HandlerMode mode) {
        addStream(d.procedure(), (call, stream) -> handler.handle(decodeRequest(d, (IncomingCallImpl) call), call,
                stream), mode);
    }

    /**
     * Decodes the request into the object the record's previous call decoded into ({@link Marshaller#read(
     * java.nio.ByteBuffer, Object)}): a recycled record (a non-blocking handler's plain calls) then decodes
     * without allocating when the marshaller fills what it is given. A request the marshaller cannot decode is
     * the client's error: answered with VIR_ERR_RPC, handler not run.
     */
    @SuppressWarnings("unchecked")
    private static <Q> Q decodeRequest(final ProcedureDescriptor<Q, ?> d, final IncomingCallImpl call) {
        try {
            final Q q = d.request().read(call.args(), (Q) call.typedRequest);
            call.typedRequest = q;
            return q;
        } catch (RuntimeException e) {
            throw new RemoteException(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                    "cannot decode the arguments of " + d.procedure() + ": "
                            + (e instanceof dev.braid.BraidException ? e.getMessage() : e.toString())));
        }
    }

    private void add(final Entry e) {
        final Procedure p = e.procedure();
        final Entry old = procedures.computeIfAbsent(key(p.program(), p.version()), k -> new Int2ObjectHashMap<>())
                .put(p.procedure(), e);
        if (old != null) {
            throw new IllegalArgumentException("procedure " + p + " is already registered");
        }
        versions.computeIfAbsent(p.program(), k -> new TreeSet<>()).add(p.version());
    }

    public void addListener(final Procedure p, final EventListener listener, final HandlerMode mode) {
        listeners.computeIfAbsent(key(p.program(), p.version()), k -> new Int2ObjectHashMap<>())
                .put(p.procedure(), new ConnectionEngine.Listener(p, listener, mode));
    }

    Entry lookup(final int prog, final int vers, final int proc) {
        final Int2ObjectHashMap<Entry> m = procedures.get(key(prog, vers));
        return m == null ? null : m.get(proc);
    }

    ConnectionEngine.Listener listener(final int prog, final int vers, final int proc) {
        final Int2ObjectHashMap<ConnectionEngine.Listener> m = listeners.get(key(prog, vers));
        return m == null ? null : m.get(proc);
    }

    /** The error a call to an unknown (prog, vers, proc) gets, naming what was unknown (as libvirt does). */
    RemoteError unknown(final int prog, final int vers, final int proc) {
        final TreeSet<Integer> vs = versions.get(prog);
        if (vs == null) {
            return RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                    "unknown program 0x" + Integer.toHexString(prog) + " (this server serves "
                            + programList() + ")");
        }
        if (!vs.contains(vers)) {
            return RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                    "unknown version " + Integer.toUnsignedString(vers) + " of program 0x" + Integer.toHexString(prog)
                            + " (versions served: " + vs + ")");
        }
        return RemoteError.of(RemoteError.VIR_ERR_NO_SUPPORT, RemoteError.VIR_FROM_RPC,
                "unknown procedure " + proc + " in program 0x" + Integer.toHexString(prog) + " version "
                        + Integer.toUnsignedString(vers));
    }

    private String programList() {
        if (versions.isEmpty()) {
            return "no programs";
        }
        final List<String> l = versions.keySet().stream().map(p -> "0x" + Integer.toHexString(p)).toList();
        return String.join(", ", l);
    }
}
