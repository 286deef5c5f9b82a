// The admission fuzzer (fuzz-admission.ts) on the topics agents and their supervisors write.
import { agentWritten, fuzzTopics, inputTopics } from './fuzz-admission';

fuzzTopics('topics agents write', inputTopics.filter(agentWritten));
