package dev.braid;

/**
 * A snapshot of a connection's counters: everything the engine counts. {@code braid stat} shows them live. Values are read one by one without a lock, so a snapshot taken
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
 * @param slowListenerSuspensions times reading stopped because event listeners fell behind the peer's events
 * @param outboundQueuedBytes bytes waiting in braid's outbound lanes for the socket now (calls, replies,
 *                            events, control frames; stream data waits in the streams' own queues)
 * @param eventBytesPending   bytes of received events handed to listeners and not yet delivered
 * @param streamsOpened       streams opened on this connection so far
 * @param streamsAborted      streams that ended failed (aborted by either side, or with the connection)
 * @param streamBytesSent     payload bytes this side wrote on all its streams
 * @param streamBytesReceived payload bytes this side read from all its streams
 * @param streamQueuedBytes   bytes received on open streams and not yet read (their window cost)
 * @param streamSendQueuedBytes bytes written on open streams and waiting in their send queues
 * @param streamReceiveWindow the windows this side grants, summed over its open streams
 * @param streamSendCredit    what the peer's windows still let this side send, summed over its open streams
 *                            (0 without flow control)
 */
public record ConnectionStats(long callsStarted, long callsInFlight, long callsQueued, long lateReplies,
                              long callsServed, long eventsSent, long eventsReceived, long eventsDropped,
                              long framesDropped, long bytesRead, long bytesWritten, long readSuspensions,
                              boolean extensionsNegotiated, long streamsOpen, long streamsWaiting,
                              long streamReadSuspensions, long outboundSuspensions,
                              long slowListenerSuspensions, long outboundQueuedBytes, long eventBytesPending,
                              long streamsOpened, long streamsAborted, long streamBytesSent,
                              long streamBytesReceived, long streamQueuedBytes, long streamSendQueuedBytes,
                              long streamReceiveWindow, long streamSendCredit) {
}
