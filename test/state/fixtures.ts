/** A one-rule Policy that denies a tool by name. */
export const policyYaml = (name: string, tool: string, ns = 'payments'): string => `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  rules:
    - id: block
      when: {tool.name: ${tool}}
      action: deny
      reason: blocked-tool
`;
