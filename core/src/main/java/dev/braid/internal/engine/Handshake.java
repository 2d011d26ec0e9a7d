package dev.braid.internal.engine;

import dev.braid.BraidConfig;
import dev.braid.NegotiatedLimits;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.internal.wire.Extension;

import java.nio.ByteBuffer;

/**
 * braid's HELLO handshake and the limits it negotiates, both roles, in one place.
 *
 * <h2>Rules</h2>
 * <ul>
 *   <li>The client sends its HELLO (its limits and the features it supports) as the first call, before any
 *       other; a peer without braid's extensions (a plain libvirt daemon) refuses the unknown program with an
 *       ERROR reply and the connection continues in libvirt-compatible mode ({@link #compatible}).</li>
 *   <li>The server answers with the features both support, the smaller message limit, and its own call,
 *       stream and window limits; a second HELLO, another version or another procedure of the extension
 *       program is refused with an error naming what is served ({@link #refusal}).</li>
 *   <li>Each side then sends messages up to the smaller of the two message limits, grants the peer's streams
 *       its own window, and sends on its streams within the window the peer granted (at least
 *       {@link Extension#MIN_PACKET_COST}: {@link Extension.Hello#decode} refuses less).</li>
 * </ul>
 *
 * <p><b>Threads.</b> Pure functions of the configuration and the peer's HELLO: any thread.
 */
final class Handshake {
    private Handshake() {
    }

    /** The HELLO a client sends. */
    static Extension.Hello clientHello(final BraidConfig cfg) {
        return new Extension.Hello(Extension.PROTOCOL_VERSION, Extension.SUPPORTED_FEATURES, cfg.maxMessageSize(),
                cfg.maxOutstandingCalls(), cfg.maxConcurrentStreams(), cfg.initialStreamWindow());
    }

    /**
     * Client: the limits that apply after the server answered {@code reply} (a braid_hello payload).
     *
     * @throws ProtocolException if the answer is malformed or its limits are unusable
     */
    static NegotiatedLimits clientLimits(final BraidConfig cfg, final ByteBuffer reply) {
        final Extension.Hello theirs = Extension.Hello.decode(reply);
        return new NegotiatedLimits(Math.min(theirs.version(), Extension.PROTOCOL_VERSION),
                theirs.features() & Extension.SUPPORTED_FEATURES, Math.min(cfg.maxMessageSize(), theirs.maxMessage()),
                theirs.maxOutstanding(), theirs.maxStreams(), theirs.initialWindow());
    }

    /** Limits without extensions (libvirt-compatible mode): this side's own, no features. */
    static NegotiatedLimits compatible(final BraidConfig cfg) {
        return new NegotiatedLimits(0, 0, cfg.maxMessageSize(), cfg.maxOutstandingCalls(), cfg.maxConcurrentStreams(),
                cfg.initialStreamWindow());
    }

    /** Server: its answer to the client's HELLO {@code theirs}. */
    static Extension.Hello serverAnswer(final BraidConfig cfg, final Extension.Hello theirs) {
        return new Extension.Hello(Extension.PROTOCOL_VERSION, Extension.SUPPORTED_FEATURES & theirs.features(),
                Math.min(cfg.maxMessageSize(), theirs.maxMessage()), cfg.maxOutstandingCalls(),
                cfg.maxConcurrentStreams(), cfg.initialStreamWindow());
    }

    /**
     * Server: the limits that apply on its side after answering {@code mine} to {@code theirs}: what it may
     * send (the smaller message limit, the client's window for its streams).
     */
    static NegotiatedLimits serverLimits(final Extension.Hello mine, final Extension.Hello theirs) {
        return new NegotiatedLimits(mine.version(), mine.features(), mine.maxMessage(), mine.maxOutstanding(),
                mine.maxStreams(), theirs.initialWindow());
    }

    /**
     * Server: why a CALL on the extension program is refused, or null if it is a HELLO to answer.
     *
     * @param negotiated whether HELLO was already exchanged on this connection
     */
    static RemoteError refusal(final int vers, final int proc, final boolean negotiated) {
        if (vers != Extension.VERSION) {
            return RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC, "unknown version "
                    + Integer.toUnsignedString(vers) + " of braid's extension program 0x"
                    + Integer.toHexString(Extension.PROGRAM) + " (versions served: [" + Extension.VERSION + "])");
        }
        if (proc != Extension.PROC_HELLO) {
            return RemoteError.of(RemoteError.VIR_ERR_NO_SUPPORT, RemoteError.VIR_FROM_RPC,
                    "unknown braid extension procedure " + proc + " (only HELLO, " + Extension.PROC_HELLO
                            + ", is a call)");
        }
        if (negotiated) {
            return RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                    "HELLO was already exchanged on this connection");
        }
        return null;
    }
}
