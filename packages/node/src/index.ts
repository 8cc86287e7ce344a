export { FileStorage, journalBytes, type OpenOptions, type OpenReport } from './storage.js';
