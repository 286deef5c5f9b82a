export {
  writeArchive,
  readManifest,
  resolveAllowed,
  BackupRefused,
  type ArchiveRequest,
  type ArchiveOutcome,
} from './archive';
export { changedSince, MANIFEST_ENTRY, type Manifest, type ManifestEntry } from './manifest';
export { FileSystemStore, StoreError, type BackupStore } from './store';
export { DigestTap, digestOf } from './digest';
export { S3Store, type S3StoreOptions } from './s3-store';
export { restoreChain, RestoreRefused, type RestoreRequest, type RestoreOutcome, type ChainArchive } from './restore';
export { SwapJournal, type Swap, type Recovered } from './swap-journal';
