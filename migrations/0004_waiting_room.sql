-- The waiting room's on-sale time: everyone who joins the queue before it is
-- shuffled into a random order when the sale opens (arriving early, or with a
-- bot farm, gains nothing); after it, first come first served.
ALTER TABLE events ADD COLUMN onsale_at TIMESTAMPTZ;
