package dev.braid;

/**
 * A snapshot of a connection's counters. Values are read one by one without a lock, so a snapshot taken
 * while traffic flows may be slightly inconsistent between fields.
 *
 * @param callsStarted        calls made on this connection (client side)
 * @param callsInFlight       calls sent and not yet answered (client) or received and not yet answered (server)
 * @param callsQueued         calls waiting for a free outstanding slot (client side)
 * @param lateReplies         replies dropped because their call had timed out or been cancelled
 * @param callsServed         calls answered (server side)
 * @param eventsSent          events sent
 * @param eventsReceived      events received and delivered to a listener
 * @param eventsDropped       events received for which no listener was registered
 * @param framesDropped       other frames dropped (unknown keepalive or extension procedures, stream packets
 *                            for no open stream)
 * @param bytesRead           bytes read from the socket
 * @param bytesWritten        bytes written to the socket
 * @param readSuspensions     times the server stopped reading because maxOutstandingCalls was reached
 * @param extensionsNegotiated whether braid's extension program is in use (false: libvirt-compatible mode)
 * @param streamsOpen         streams holding a slot on this connection (open, or ended here and not yet
 *                            released by the other side)
 * @param streamsWaiting      {@code openStream} calls waiting for a free stream slot (client side)
 * @param streamReadSuspensions times a full stream queue stopped the connection's reads (compatible mode)
 * @param outboundSuspensions times reading stopped because the peer was not reading what this side sent
 *                            (more than 8 MiB waiting in braid's outbound lanes)
 */
public record ConnectionStats(long callsStarted, long callsInFlight, long callsQueued, long lateReplies,
                              long callsServed, long eventsSent, long eventsReceived, long eventsDropped,
                              long framesDropped, long bytesRead, long bytesWritten, long readSuspensions,
                              boolean extensionsNegotiated, long streamsOpen, long streamsWaiting,
                              long streamReadSuspensions, long outboundSuspensions) {
}
