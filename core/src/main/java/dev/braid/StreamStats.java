package dev.braid;

import java.time.Duration;

/**
 * A snapshot of one open stream's counters, as {@link Peer#streams()} reports them (the same values the
 * stream's own {@link BraidStream} methods give its owner). Values are read one by one without a lock.
 *
 * @param procedure       the stream procedure
 * @param serial          the stream's serial (that of its opening call)
 * @param bytesSent       payload bytes this side wrote ({@link BraidStream#bytesWritten()})
 * @param bytesReceived   payload bytes this side read ({@link BraidStream#bytesRead()})
 * @param queuedBytes     received and not yet read ({@link BraidStream#queuedBytes()})
 * @param sendQueuedBytes written and not yet sent ({@link BraidStream#sendQueuedBytes()})
 * @param receiveWindow   the window this side grants ({@link BraidStream#receiveWindow()})
 * @param sendCredit      what the peer's window still allows ({@link BraidStream#sendCredit()}; 0 without
 *                        flow control)
 * @param age             time since the stream was opened
 */
public record StreamStats(Procedure procedure, int serial, long bytesSent, long bytesReceived, long queuedBytes,
                          long sendQueuedBytes, long receiveWindow, long sendCredit, Duration age) {
}
