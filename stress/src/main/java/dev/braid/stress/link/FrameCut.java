package dev.braid.stress.link;

/**
 * Where {@link RelayConnection#resetMidFrame} cut a direction: byte {@code offset} of the stream, inside the
 * frame of {@code frameLength} bytes that starts at byte {@code frameStart}.
 */
public record FrameCut(long offset, long frameStart, long frameLength) {
    /** True if the cut lies strictly inside the frame (some of it delivered, not all). */
    public boolean inside() {
        return offset > frameStart && offset < frameStart + frameLength;
    }
}
