package dev.braid;

import java.util.Objects;

/**
 * A typed procedure: its address on the wire and the marshallers of its request and reply, as gRPC's
 * {@code MethodDescriptor}. Declare one per procedure, once, and use it on both sides:
 *
 * <pre>{@code
 * static final ProcedureDescriptor<String, Integer> LENGTH =
 *         ProcedureDescriptor.of(Procedure.of(0x20000001, 1, 1), XdrCodec.STRING, XdrCodec.INT);
 *
 * server.handle(LENGTH, (name, call) -> name.length());      // typed handler: returns the reply
 * int n = connection.call(LENGTH, "hello");                    // typed blocking call
 * }</pre>
 *
 * For a stream procedure the request is the opening call's argument and the reply the opening reply's
 * payload ({@link BraidStream#openingReply(Marshaller)}); a stream's result has a marshaller of its own
 * ({@link BraidStream#finish(Marshaller)}). Immutable and thread-safe.
 *
 * @param procedure (program, version, procedure)
 * @param request   marshaller of the call's arguments
 * @param reply     marshaller of the reply's payload
 * @param <Q>       request type
 * @param <R>       reply type
 */
public record ProcedureDescriptor<Q, R>(Procedure procedure, Marshaller<Q> request, Marshaller<R> reply) {

    /**
     * Checks that no part is null.
     *
     * @param procedure (program, version, procedure)
     * @param request marshaller of the call's arguments
     * @param reply marshaller of the reply's payload
     * @throws NullPointerException if any of them is null
     */
    public ProcedureDescriptor {
        Objects.requireNonNull(procedure, "procedure");
        Objects.requireNonNull(request, "request marshaller");
        Objects.requireNonNull(reply, "reply marshaller");
    }

    /**
     * The descriptor of a typed procedure.
     *
     * @param <Q> request type
     * @param <R> reply type
     * @param procedure (program, version, procedure)
     * @param request marshaller of the call's arguments
     * @param reply marshaller of the reply's payload
     * @return the descriptor
     */
    public static <Q, R> ProcedureDescriptor<Q, R> of(final Procedure procedure, final Marshaller<Q> request,
                                                      final Marshaller<R> reply) {
        return new ProcedureDescriptor<>(procedure, request, reply);
    }

    @Override
    public String toString() {
        return procedure.toString();
    }
}
