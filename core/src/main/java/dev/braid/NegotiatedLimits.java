package dev.braid;

/**
 * Limits in force on a connection after the HELLO exchange (in libvirt-compatible mode: the local
 * configuration's values, since the peer advertised none).
 *
 * @param protocolVersion        braid extension protocol version agreed (0 in libvirt-compatible mode)
 * @param features               extension feature bits both sides support
 * @param maxMessageSize         largest message either side will send
 * @param maxOutstandingCalls    calls the client may have outstanding
 * @param maxConcurrentStreams   streams the client may have open
 * @param initialStreamWindow    initial per-stream window in bytes
 */
public record NegotiatedLimits(int protocolVersion, int features, int maxMessageSize, int maxOutstandingCalls,
                               int maxConcurrentStreams, int initialStreamWindow) {
}
