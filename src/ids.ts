import { v7 as uuidv7 } from 'uuid';

/** Opaque, time-sortable ids (UUIDv7): sorting by id sorts by creation time. */
export const newId = (): string => uuidv7();
