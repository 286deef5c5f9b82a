// The admission fuzzer (fuzz-admission.ts) on the topics Vigil's services write and other services read.
import { agentWritten, fuzzTopics, inputTopics } from './fuzz-admission';

fuzzTopics(
  'topics services write',
  inputTopics.filter((d) => !agentWritten(d)),
);
